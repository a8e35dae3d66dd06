package io.mcpsandbox.network;

import java.util.function.LongSupplier;

/**
 * A token bucket shared by every connection of one sandbox, both directions together. A taker may go into debt
 * (a relay chunk is larger than the burst) and then sleeps until the debt is paid, so the long-run rate holds
 * whatever the chunk sizes. The burst is a tenth of a second's worth (at least 16 KiB).
 */
public final class Bandwidth {
    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    /** Sleeps a number of nanoseconds (a test's fake clock advances instead). */
    interface Sleeper {
        void sleep(long nanos) throws InterruptedException;
    }

    private final long bytesPerSecond;
    private final long burst;
    private final LongSupplier nanoClock;
    private final Sleeper sleeper;
    private long tokens;
    private long lastRefill;

    /** {@code bytesPerSecond} 0: unlimited. */
    public Bandwidth(long bytesPerSecond) {
        this(bytesPerSecond, System::nanoTime, nanos -> Thread.sleep(nanos / 1_000_000, (int) (nanos % 1_000_000)));
    }

    Bandwidth(long bytesPerSecond, LongSupplier nanoClock, Sleeper sleeper) {
        this.bytesPerSecond = bytesPerSecond;
        this.burst = Math.max(16 * 1024, bytesPerSecond / 10);
        this.nanoClock = nanoClock;
        this.sleeper = sleeper;
        this.tokens = burst;
        this.lastRefill = nanoClock.getAsLong();
    }

    /** Takes {@code bytes}, sleeping as long as the rate requires. */
    public void take(long bytes) throws InterruptedException {
        if (bytesPerSecond <= 0 || bytes <= 0) {
            return;
        }
        long waitNanos;
        synchronized (this) {
            long now = nanoClock.getAsLong();
            long earned = (long) ((double) (now - lastRefill) * bytesPerSecond / NANOS_PER_SECOND);
            if (earned > 0) {
                tokens = Math.min(burst, tokens + earned);
                lastRefill = now;
            }
            tokens -= bytes;
            waitNanos = tokens >= 0 ? 0 : (long) ((double) -tokens * NANOS_PER_SECOND / bytesPerSecond);
        }
        if (waitNanos > 0) {
            sleeper.sleep(waitNanos);
        }
    }
}
