package io.mcpsandbox.cluster;

import java.time.Instant;
import java.util.List;

/**
 * The cluster as read from Redis at {@code readAt}: every node, live ones first (by id), then the dead (newest
 * first), and how many are in each state.
 */
public record ClusterStatus(int protocol, Instant readAt, Counts counts, List<NodeView> nodes) {
    public record Counts(int active, int draining, int dead) {
    }

    public ClusterStatus {
        nodes = List.copyOf(nodes);
    }
}
