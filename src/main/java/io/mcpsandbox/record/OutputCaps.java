package io.mcpsandbox.record;

/**
 * How much output the records keep (see docs/records.md): each stream of a record at most
 * {@code maxStreamBytes} (the rest is cut, with a marker), and all records' stored results together at most
 * {@code maxPerUser} per user and {@code maxTotal} in all; beyond a cap, the oldest ended records lose their
 * output first (the record itself stays).
 */
public record OutputCaps(long maxStreamBytes, long maxPerUser, long maxTotal) {
    public static final OutputCaps DEFAULTS = new OutputCaps(1L << 20, 100L << 20, 1L << 30);

    public OutputCaps {
        positive(ExecutionStores.OUTPUT_MAX_STORED, maxStreamBytes);
        positive(ExecutionStores.OUTPUT_MAX_PER_USER, maxPerUser);
        positive(ExecutionStores.OUTPUT_MAX_TOTAL, maxTotal);
    }

    private static void positive(String key, long value) {
        if (value < 1) {
            throw new IllegalArgumentException(key + " must be at least 1 byte; got " + value);
        }
    }
}
