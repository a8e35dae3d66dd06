package io.mcpsandbox.model;

/**
 * Limits as a caller asked for them; any field may be null, meaning "the configured default".
 * Policy turns this into {@link ResourceLimits} after checking each field against its maximum.
 */
public record LimitsRequest(Long timeoutMs, Long memoryBytes, Double cpus, Integer pids, Long outputBytes) {
    public static final LimitsRequest DEFAULTS = new LimitsRequest(null, null, null, null, null);
}
