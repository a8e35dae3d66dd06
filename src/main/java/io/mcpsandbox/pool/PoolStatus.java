package io.mcpsandbox.pool;

/**
 * One pool as it stands: its size, what is ready and being started, what takes found, and its refills.
 *
 * @param misses      by {@link SandboxPool.Miss} ordinal
 * @param died        ready sandboxes found dead (killed, out of memory, agent gone) and replaced
 * @param refillNanos the time all refills took, start to ready
 * @param memoryBytes what its ready sandboxes hold, as last measured
 * @param problem     why it is empty or not refilled, when it is (the last start's failure, or a policy refusal)
 */
public record PoolStatus(PoolKey key, int size, int ready, int filling, long hits, long[] misses, long died,
                         long refills,
                         long refillNanos, long failures, long memoryBytes, String problem) {
    public long misses(SandboxPool.Miss reason) {
        return misses[reason.ordinal()];
    }
}
