package io.mcpsandbox.model;

/** What a sandbox used, read from its cgroup before the sandbox was removed. */
public record ResourceUsage(long cpuMillis, double cpuPercent, long peakMemoryBytes, NetworkIO networkIO) {
    public static final ResourceUsage NONE = new ResourceUsage(0, 0, 0, NetworkIO.NONE);

    /** CPU percent of one core over the wall-clock duration, rounded to one decimal. */
    public static ResourceUsage of(long cpuMillis, long durationMs, long peakMemoryBytes, NetworkIO networkIO) {
        double percent = durationMs <= 0 ? 0 : Math.round(cpuMillis * 1000.0 / durationMs) / 10.0;
        return new ResourceUsage(cpuMillis, percent, peakMemoryBytes, networkIO);
    }
}
