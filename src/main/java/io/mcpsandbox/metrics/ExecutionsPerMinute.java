package io.mcpsandbox.metrics;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * How many executions ended in each of the last {@link #MINUTES} minutes (and how many of them as {@code error}):
 * the one thing a Prometheus counter cannot answer without a Prometheus server to keep its history. Fed where
 * the counters are, so both agree.
 */
final class ExecutionsPerMinute {
    static final int MINUTES = 60;

    /** One minute's counts. */
    record Minute(Instant at, long executions, long errors) {
    }

    private final long[] minuteOf = new long[MINUTES];
    private final long[] executions = new long[MINUTES];
    private final long[] errors = new long[MINUTES];

    synchronized void add(Instant now, boolean error) {
        long minute = now.getEpochSecond() / 60;
        int slot = (int) Math.floorMod(minute, (long) MINUTES);
        if (minuteOf[slot] != minute) {
            minuteOf[slot] = minute;
            executions[slot] = 0;
            errors[slot] = 0;
        }
        executions[slot]++;
        if (error) {
            errors[slot]++;
        }
    }

    /** The last {@link #MINUTES} minutes up to {@code now}'s, oldest first; empty minutes as zero. */
    synchronized List<Minute> last(Instant now) {
        long current = now.getEpochSecond() / 60;
        List<Minute> out = new ArrayList<>(MINUTES);
        for (long minute = current - MINUTES + 1; minute <= current; minute++) {
            int slot = (int) Math.floorMod(minute, (long) MINUTES);
            boolean kept = minuteOf[slot] == minute;
            out.add(new Minute(Instant.ofEpochSecond(minute * 60), kept ? executions[slot] : 0,
                    kept ? errors[slot] : 0));
        }
        return out;
    }
}
