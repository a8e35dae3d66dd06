package io.mcpsandbox.pool;

import io.mcpsandbox.config.Settings;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Which warm pools a server keeps and how (docs/pools.md, {@code pool.*}).
 *
 * @param enabled           false: every execution starts its sandbox cold
 * @param sizes             the pools and how many ready sandboxes each keeps, in the order they are filled
 * @param memoryBudgetBytes what all ready sandboxes together may hold in memory (their cgroups' usage); a pool
 *                          is not refilled beyond it
 * @param refillConcurrency how many sandboxes are started ahead at once, at most
 */
public record PoolSettings(boolean enabled, Map<PoolKey, Integer> sizes, long memoryBudgetBytes,
                           int refillConcurrency) {
    /** For this 2-core machine: python, node and commands on runc, python and commands on runsc. */
    public static final String DEFAULT_SANDBOXES =
            "runc:host:python=2,runc:host=2,runc:host:node=1,runsc:host:python=1,runsc:host=1";
    static final int MAX_POOL_SIZE = 64;

    public PoolSettings {
        sizes = Collections.unmodifiableMap(new LinkedHashMap<>(sizes)); // in order
        if (memoryBudgetBytes < 0) {
            throw new IllegalArgumentException("pool.memory-budget: must be 0 or more; got " + memoryBudgetBytes);
        }
        if (refillConcurrency < 1 || refillConcurrency > 16) {
            throw new IllegalArgumentException("pool.refill-concurrency: must be 1 to 16; got " + refillConcurrency);
        }
    }

    /** No pools: every execution starts cold. */
    public static PoolSettings none() {
        return new PoolSettings(false, Map.of(), 0, 1);
    }

    public static PoolSettings from(Settings s) {
        return new PoolSettings(s.bool("pool.enabled", "true"),
                parseSizes(s.string("pool.sandboxes", DEFAULT_SANDBOXES)), s.bytes("pool.memory-budget", "1g"),
                s.integer("pool.refill-concurrency", "2"));
    }

    /**
     * {@code key=size} pairs separated by commas (e.g. {@code runc:host:python=2,runsc:host=1}); an empty text is
     * no pool. Each size 1 to {@value #MAX_POOL_SIZE}; a key may appear once.
     */
    static Map<PoolKey, Integer> parseSizes(String text) {
        Map<PoolKey, Integer> sizes = new LinkedHashMap<>();
        for (String item : text.split(",")) {
            if (item.isBlank()) {
                continue;
            }
            int eq = item.indexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException("pool.sandboxes: expected runtime:image[:language]=size; got '"
                        + item.trim() + "'");
            }
            PoolKey key;
            try {
                key = PoolKey.parse(item.substring(0, eq));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("pool.sandboxes: " + e.getMessage(), e);
            }
            int size;
            try {
                size = Integer.parseInt(item.substring(eq + 1).trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("pool.sandboxes: the size of " + key + " is not a number: '"
                        + item.substring(eq + 1).trim() + "'");
            }
            if (size < 1 || size > MAX_POOL_SIZE) {
                throw new IllegalArgumentException("pool.sandboxes: the size of " + key + " must be 1 to "
                        + MAX_POOL_SIZE + "; got " + size);
            }
            if (sizes.put(key, size) != null) {
                throw new IllegalArgumentException("pool.sandboxes: " + key + " appears twice");
            }
        }
        return sizes;
    }
}
