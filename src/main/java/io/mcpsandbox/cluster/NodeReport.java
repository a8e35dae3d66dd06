package io.mcpsandbox.cluster;

import java.util.List;

/**
 * What a node says about itself at each heartbeat, gathered by its server.
 *
 * @param runtimes    the runtimes usable here (verified at start, not excluded by settings)
 * @param images      the image catalog's names
 * @param maxInFlight {@code admission.max-concurrent}
 * @param active      executions running now
 * @param poolReady   pooled sandboxes ready now
 */
public record NodeReport(List<String> runtimes, List<String> images, int maxInFlight, int active, int poolReady) {
    public NodeReport {
        runtimes = List.copyOf(runtimes);
        images = List.copyOf(images);
    }
}
