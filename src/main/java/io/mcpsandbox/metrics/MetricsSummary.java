package io.mcpsandbox.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.distribution.CountAtBucket;
import io.micrometer.core.instrument.distribution.HistogramSnapshot;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * The figures the console's performance page shows, read from the same meters {@code /metrics} exposes
 * (plus the per-minute history {@link ExecutionsPerMinute} keeps beside them).
 *
 * @param perMinute        executions ended per minute over the last hour, oldest first
 * @param runtimes         latency percentiles per runtime since the server started
 * @param statuses         executions by final status since the server started
 * @param securityEvents   security events by {@code type/severity} since the server started
 * @param pools            each warm pool's size, ready sandboxes, hits and misses
 */
public record MetricsSummary(Instant generatedAt, long activeExecutions, List<PerMinute> perMinute,
                             List<RuntimeLatency> runtimes, Map<String, Long> statuses,
                             Map<String, Long> securityEvents, List<Pool> pools) {

    /** One minute of the history. */
    public record PerMinute(Instant at, long executions, long errors) {
    }

    /**
     * Percentiles estimated from the duration histogram's buckets, as Prometheus's {@code histogram_quantile}
     * does (linear within the bucket that holds the rank); null where no execution ran.
     */
    public record RuntimeLatency(String runtime, long executions, Double p50Ms, Double p95Ms, Double p99Ms) {
    }

    /** @param hitRate hits over hits plus misses; null before the first request of the pool's kind */
    public record Pool(String key, long size, long ready, long hits, long misses, Double hitRate) {
    }

    static MetricsSummary read(MeterRegistry registry, ExecutionsPerMinute history, Instant now) {
        Map<String, Long> statuses = new TreeMap<>();
        for (Counter c : registry.find("mcp.sandbox.executions").counters()) {
            statuses.merge(c.getId().getTag("status"), (long) c.count(), Long::sum);
        }
        Map<String, Long> events = new TreeMap<>();
        for (Counter c : registry.find("mcp.sandbox.security.events").counters()) {
            events.merge(c.getId().getTag("type") + "/" + c.getId().getTag("severity"), (long) c.count(), Long::sum);
        }
        List<RuntimeLatency> runtimes = new ArrayList<>();
        for (Timer t : registry.find("mcp.sandbox.execution.duration").timers()) {
            HistogramSnapshot snapshot = t.takeSnapshot();
            runtimes.add(new RuntimeLatency(t.getId().getTag("runtime"), snapshot.count(),
                    quantileMs(snapshot, 0.50), quantileMs(snapshot, 0.95), quantileMs(snapshot, 0.99)));
        }
        runtimes.sort(java.util.Comparator.comparing(RuntimeLatency::runtime));
        Gauge active = registry.find("mcp.sandbox.active.executions").gauge();
        return new MetricsSummary(now, active == null ? 0 : (long) active.value(),
                history.last(now).stream().map(m -> new PerMinute(m.at(), m.executions(), m.errors())).toList(),
                runtimes, statuses, events, pools(registry));
    }

    private static List<Pool> pools(MeterRegistry registry) {
        Map<String, long[]> byKey = new TreeMap<>(); // size, ready, hits, misses
        for (Gauge g : registry.find("mcp.sandbox.pool.size").gauges()) {
            byKey.computeIfAbsent(g.getId().getTag("pool"), k -> new long[4])[0] = (long) g.value();
        }
        for (Gauge g : registry.find("mcp.sandbox.pool.ready").gauges()) {
            byKey.computeIfAbsent(g.getId().getTag("pool"), k -> new long[4])[1] = (long) g.value();
        }
        for (FunctionCounter c : registry.find("mcp.sandbox.pool.hits").functionCounters()) {
            byKey.computeIfAbsent(c.getId().getTag("pool"), k -> new long[4])[2] += (long) c.count();
        }
        for (FunctionCounter c : registry.find("mcp.sandbox.pool.misses").functionCounters()) {
            byKey.computeIfAbsent(c.getId().getTag("pool"), k -> new long[4])[3] += (long) c.count();
        }
        List<Pool> pools = new ArrayList<>();
        byKey.forEach((key, v) -> pools.add(new Pool(key, v[0], v[1], v[2], v[3],
                v[2] + v[3] == 0 ? null : (double) v[2] / (v[2] + v[3]))));
        return pools;
    }

    /** The q-quantile in milliseconds from cumulative bucket counts; null for an empty histogram. */
    static Double quantileMs(HistogramSnapshot snapshot, double q) {
        CountAtBucket[] buckets = snapshot.histogramCounts();
        long total = snapshot.count();
        if (total == 0 || buckets.length == 0) {
            return null;
        }
        double rank = q * total;
        double lowerBound = 0;
        double lowerCount = 0;
        for (CountAtBucket b : buckets) {
            double upper = b.bucket(TimeUnit.MILLISECONDS);
            if (b.count() >= rank) {
                double inBucket = b.count() - lowerCount;
                double fraction = inBucket <= 0 ? 1 : (rank - lowerCount) / inBucket;
                return lowerBound + (upper - lowerBound) * fraction;
            }
            lowerBound = upper;
            lowerCount = b.count();
        }
        // Past the last bucket: the largest seen is the best bound the histogram keeps.
        return snapshot.max(TimeUnit.MILLISECONDS);
    }
}
