package io.mcpsandbox.cluster;

import java.time.Instant;
import java.util.List;

/**
 * One node as {@code cluster status} and {@code GET /v1/cluster} list it. A dead node's entry has expired: only its
 * id, last known address and last heartbeat remain (the other fields are empty or -1).
 *
 * @param state       {@code active}, {@code draining}, {@code dead}, or {@code invalid} (an entry we cannot read)
 * @param heartbeatAt the last heartbeat (a dead node's: when it was last seen)
 */
public record NodeView(String id, String url, String state, String version, List<String> runtimes,
                       List<String> images, Capacity capacity, Instant joinedAt, Instant heartbeatAt) {
    public static final String ACTIVE = "active";
    public static final String DRAINING = "draining";
    public static final String DEAD = "dead";
    public static final String INVALID = "invalid";

    /** Load as the node reported it; -1 where unknown. */
    public record Capacity(int maxInFlight, int active, int poolReady) {
    }

    public NodeView {
        runtimes = List.copyOf(runtimes);
        images = List.copyOf(images);
    }
}
