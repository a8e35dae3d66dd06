package io.mcpsandbox.metrics;

import io.mcpsandbox.model.ExecutionResult;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.function.IntSupplier;

/**
 * The service's meters in one Prometheus registry: JVM metrics, {@code mcp_sandbox_executions_total} by
 * runtime and status, and {@code mcp_sandbox_active_executions}.
 */
public final class SandboxMetrics implements AutoCloseable {
    public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final JvmGcMetrics gc = new JvmGcMetrics();

    /** @param activeExecutions how many executions are running right now */
    public SandboxMetrics(IntSupplier activeExecutions) {
        new JvmMemoryMetrics().bindTo(registry);
        gc.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        Gauge.builder("mcp.sandbox.active.executions", activeExecutions, s -> s.getAsInt())
                .description("Executions running right now").register(registry);
    }

    /** Counts one finished execution (rejected and error included). */
    public void recordResult(ExecutionResult result) {
        Counter.builder("mcp.sandbox.executions")
                .description("Executions by runtime and final status")
                .tag("runtime", result.runtime() == null ? "none" : result.runtime())
                .tag("status", result.status().wireName())
                .register(registry).increment();
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
