package io.mcpsandbox.metrics;

import io.mcpsandbox.cluster.ClusterNode;
import io.mcpsandbox.cluster.ClusterStatus;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.SecurityEvent;
import io.mcpsandbox.pool.PoolKey;
import io.mcpsandbox.pool.PoolStatus;
import io.mcpsandbox.pool.SandboxPool;
import io.mcpsandbox.queue.ExecutionQueue;
import io.mcpsandbox.queue.QueueSettings;
import io.mcpsandbox.record.ExecutionStore;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.IntSupplier;

/**
 * The service's meters in one Prometheus registry: JVM metrics, {@code mcp_sandbox_executions_total} by
 * runtime and status, {@code mcp_sandbox_execution_duration_seconds} (histogram),
 * {@code mcp_sandbox_active_executions}, {@code mcp_sandbox_security_events_total} by type and severity,
 * {@code mcp_sandbox_rejections_total} by reason, {@code mcp_sandbox_store_size_bytes}, and the warm pools'
 * meters ({@link #bindPool}).
 */
public final class SandboxMetrics implements AutoCloseable {
    public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final JvmGcMetrics gc = new JvmGcMetrics();
    private final ExecutionsPerMinute perMinute = new ExecutionsPerMinute();
    // Registered up front: a scrape shows 0 before the first report, so a rise is visible.
    private final Counter cspReports = Counter.builder("mcp.sandbox.console.csp.reports")
            .description("Content-Security-Policy violations browsers reported from the console")
            .register(registry);

    /**
     * @param activeExecutions how many executions are running right now
     * @param store            the execution store, whose outages are exposed as gauges
     */
    public SandboxMetrics(IntSupplier activeExecutions, ExecutionStore store) {
        new JvmMemoryMetrics().bindTo(registry);
        gc.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        // Strong reference: Micrometer holds a gauge's state weakly, and nothing else holds this supplier.
        Gauge.builder("mcp.sandbox.active.executions", activeExecutions, s -> s.getAsInt())
                .strongReference(true)
                .description("Executions running right now").register(registry);
        Gauge.builder("mcp.sandbox.store.degraded", store, s -> s.degraded() ? 1 : 0)
                .strongReference(true)
                .description("1 while records cannot reach their primary store (they are kept and replayed)")
                .register(registry);
        Gauge.builder("mcp.sandbox.store.pending.writes", store, ExecutionStore::pendingWrites)
                .strongReference(true)
                .description("Records waiting to be written to the primary store").register(registry);
        Gauge.builder("mcp.sandbox.store.size", store, ExecutionStore::sizeBytes)
                .strongReference(true).baseUnit("bytes")
                .description("What the execution records take: the SQLite file on disk, or Redis's stored results "
                        + "plus the SQLite file; -1 when unknown")
                .register(registry);
    }

    /**
     * The warm pools' meters, one series per pool (tag {@code pool}, e.g. {@code runc:host:python}):
     * {@code mcp_sandbox_pool_size} (configured), {@code mcp_sandbox_pool_ready}, {@code mcp_sandbox_pool_hits_total},
     * {@code mcp_sandbox_pool_misses_total} by reason, {@code mcp_sandbox_pool_died_total},
     * {@code mcp_sandbox_pool_refill_seconds} (count and sum),
     * {@code mcp_sandbox_pool_refill_failures_total} and {@code mcp_sandbox_pool_memory_bytes}.
     */
    public void bindPool(SandboxPool pool) {
        for (PoolKey key : pool.keys()) {
            String tag = key.toString();
            Gauge.builder("mcp.sandbox.pool.size", pool, p -> p.status(key).map(PoolStatus::size).orElse(0))
                    .strongReference(true).tag("pool", tag)
                    .description("Sandboxes the pool keeps ready (pool.sandboxes)").register(registry);
            Gauge.builder("mcp.sandbox.pool.ready", pool, p -> p.status(key).map(PoolStatus::ready).orElse(0))
                    .strongReference(true).tag("pool", tag)
                    .description("Sandboxes ready in the pool now").register(registry);
            Gauge.builder("mcp.sandbox.pool.memory", pool, p -> p.status(key).map(PoolStatus::memoryBytes).orElse(0L))
                    .strongReference(true).tag("pool", tag).baseUnit("bytes")
                    .description("Memory the pool's ready sandboxes hold, as last measured").register(registry);
            FunctionCounter.builder("mcp.sandbox.pool.hits", pool, p -> p.status(key).map(PoolStatus::hits)
                            .orElse(0L))
                    .tag("pool", tag).description("Executions and sessions served by a sandbox of the pool")
                    .register(registry);
            for (SandboxPool.Miss reason : SandboxPool.Miss.values()) {
                FunctionCounter.builder("mcp.sandbox.pool.misses", pool, p -> p.status(key)
                                .map(s -> s.misses(reason)).orElse(0L))
                        .tag("pool", tag).tag("reason", reason.name().toLowerCase(java.util.Locale.ROOT))
                        .description("Requests of the pool's key that started cold: empty, or a mismatch (other "
                                + "limits, environment or program)")
                        .register(registry);
            }
            FunctionCounter.builder("mcp.sandbox.pool.died", pool, p -> p.status(key).map(PoolStatus::died)
                            .orElse(0L))
                    .tag("pool", tag).description("Ready sandboxes found dead while waiting, and replaced")
                    .register(registry);
            FunctionCounter.builder("mcp.sandbox.pool.refill.failures", pool, p -> p.status(key)
                            .map(PoolStatus::failures).orElse(0L))
                    .tag("pool", tag).description("Sandboxes the pool could not start ahead").register(registry);
            FunctionTimer.builder("mcp.sandbox.pool.refill", pool,
                            p -> p.status(key).map(PoolStatus::refills).orElse(0L),
                            p -> p.status(key).map(PoolStatus::refillNanos).orElse(0L), TimeUnit.NANOSECONDS)
                    .tag("pool", tag).description("Time to start one sandbox ahead, to ready").register(registry);
        }
    }

    /** The registry, for parts that keep their own meters (the callback sender). */
    public io.micrometer.core.instrument.MeterRegistry registry() {
        return registry;
    }

    /**
     * The durable queue's meters: {@code mcp_sandbox_queue_depth} by class ({@code largest_user}: the items of
     * the user with most waiting; {@code other_users}: everyone else's), {@code mcp_sandbox_queue_users},
     * {@code mcp_sandbox_queue_wait_seconds} (histogram: acceptance to start), {@code
     * mcp_sandbox_queue_started_total}, {@code mcp_sandbox_queue_cancelled_total} and {@code
     * mcp_sandbox_queue_rejected_total} by limit.
     */
    public void bindQueue(ExecutionQueue queue) {
        Gauge.builder("mcp.sandbox.queue.depth", queue, ExecutionQueue::largestUser).strongReference(true)
                .tag("class", "largest_user").description("Executions waiting in the queue, by class of user")
                .register(registry);
        Gauge.builder("mcp.sandbox.queue.depth", queue, q -> q.depth(null) - q.largestUser()).strongReference(true)
                .tag("class", "other_users").description("Executions waiting in the queue, by class of user")
                .register(registry);
        Gauge.builder("mcp.sandbox.queue.users", queue, ExecutionQueue::users).strongReference(true)
                .description("Users with executions waiting in the queue").register(registry);
        FunctionCounter.builder("mcp.sandbox.queue.started", queue, ExecutionQueue::startedCount)
                .description("Queued executions started").register(registry);
        FunctionCounter.builder("mcp.sandbox.queue.cancelled", queue, ExecutionQueue::cancelledCount)
                .description("Queued executions cancelled before they started").register(registry);
        for (String limit : List.of(QueueSettings.MAX_PER_USER, QueueSettings.MAX_TOTAL, QueueSettings.MAX_BYTES)) {
            FunctionCounter.builder("mcp.sandbox.queue.rejected", queue, q -> q.refusedCount(limit))
                    .tag("limit", limit).description("Submissions refused by a queue limit (answered 429)")
                    .register(registry);
        }
        Timer wait = Timer.builder("mcp.sandbox.queue.wait").publishPercentileHistogram()
                .description("Time from acceptance into the queue to start").register(registry);
        queue.onStarted(wait::record);
    }

    /**
     * Cluster mode's gauge: {@code mcp_sandbox_cluster_nodes{state="active|draining|dead"}}, as this node read the
     * cluster at its last heartbeat (docs/cluster.md).
     */
    public void bindCluster(ClusterNode node) {
        for (String state : List.of("active", "draining", "dead")) {
            Gauge.builder("mcp.sandbox.cluster.nodes", node, n -> {
                ClusterStatus.Counts c = n.counts();
                return switch (state) {
                    case "active" -> c.active();
                    case "draining" -> c.draining();
                    default -> c.dead();
                };
            }).strongReference(true).tag("state", state)
                    .description("Nodes of the cluster by state, as of this node's last heartbeat").register(registry);
        }
    }

    /** Counts one finished execution (rejected and error included), its duration and its security events. */
    public void recordResult(ExecutionResult result) {
        perMinute.add(java.time.Instant.now(), result.status() == ExecutionStatus.ERROR);
        String runtime = result.runtime() == null ? "none" : result.runtime();
        Counter.builder("mcp.sandbox.executions")
                .description("Executions by runtime and final status")
                .tag("runtime", runtime)
                .tag("status", result.status().wireName())
                .register(registry).increment();
        Timer.builder("mcp.sandbox.execution.duration")
                .description("End-to-end duration of executions, request to result")
                .tag("runtime", runtime)
                .publishPercentileHistogram()
                .register(registry).record(Duration.ofMillis(result.durationMs()));
        for (SecurityEvent event : result.securityEvents()) {
            Counter.builder("mcp.sandbox.security.events")
                    .description("Security events by type and severity")
                    .tag("type", event.type())
                    .tag("severity", event.severity().wireName())
                    .register(registry).increment();
        }
        if (result.status() == ExecutionStatus.REJECTED) {
            recordRejection(rejectionReason(result.reason()));
        }
    }

    /** Counts a refusal. {@code reason} must come from a small set (a field or rule name), never free text. */
    public void recordRejection(String reason) {
        Counter.builder("mcp.sandbox.rejections")
                .description("Requests refused before they ran, by reason")
                .tag("reason", reason)
                .register(registry).increment();
    }

    /** A policy refusal's reason reads "field: message": the field is the tag. */
    static String rejectionReason(String reason) {
        if (reason == null) {
            return "unknown";
        }
        int colon = reason.indexOf(':');
        String field = colon > 0 ? reason.substring(0, colon) : "other";
        return field.matches("[A-Za-z][A-Za-z0-9_.]{0,40}") ? field : "other";
    }

    /** What the console's performance page shows, from these meters. */
    public MetricsSummary summary() {
        return MetricsSummary.read(registry, perMinute, java.time.Instant.now());
    }

    /**
     * Counts a Content-Security-Policy violation a browser reported from the console
     * ({@code mcp_sandbox_console_csp_reports_total}): none is expected, so any is worth a look.
     */
    public void recordCspReport() {
        cspReports.increment();
    }

    /** The Prometheus text exposition. */
    public String scrape() {
        return registry.scrape();
    }

    @Override
    public void close() {
        gc.close();
        registry.close();
    }
}
