package io.mcpsandbox.api;

import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.config.ServerConfig;
import io.mcpsandbox.execution.Admission;
import io.mcpsandbox.execution.SandboxServices;
import io.mcpsandbox.queue.ExecutionQueue;
import io.mcpsandbox.queue.QueueLock;
import io.mcpsandbox.queue.QueueSettings;
import io.mcpsandbox.queue.QueueStores;
import io.mcpsandbox.record.ExecutionStore;
import io.mcpsandbox.record.StoreHealth;
import io.mcpsandbox.session.SessionService;
import io.mcpsandbox.metrics.SandboxMetrics;
import tools.jackson.databind.json.JsonMapper;

/**
 * What every served interface shares: one admission, one gateway, one metrics registry over the sandbox
 * services, and their sessions. Closing it does not close the services (their owner does).
 */
public final class SandboxApi implements AutoCloseable {
    /** Where the HTTP layer puts the API key's user for the MCP tools (a request attribute, a transport key). */
    public static final String USER = "io.mcpsandbox.userId";

    private final SandboxConfig config;
    private final Admission admission;
    private final SandboxMetrics metrics;
    private final ExecutionStore store;
    private final ExecutionGateway gateway;
    private final JsonMapper json = Json.mapper();
    private final RequestParser parser;
    private final SessionService sessions;
    private final SandboxServices services;
    private ExecutionQueue queue;
    private QueueLock queueLock;

    public SandboxApi(SandboxServices services, ServerConfig server) {
        this.services = services;
        this.config = services.config();
        ServerConfig.AdmissionLimits limits = server.admission();
        this.admission = new Admission(limits.maxConcurrent(), limits.maxPerUser(), limits.queueSize(),
                limits.queueTimeout());
        this.store = services.store();
        this.sessions = services.sessions();
        this.metrics = new SandboxMetrics(() -> services.executions().active().size(), store);
        metrics.bindPool(services.pool());
        this.gateway = new ExecutionGateway(services.executions(), services.registry(), admission, metrics);
        this.parser = new RequestParser(new RequestSchemas(config, gateway.runtimes().stream()
                .map(r -> r.name()).toList()));
    }

    /**
     * Serves the durable queue of async executions (docs/queue.md) when {@code queue.enabled} and no other
     * process serves this data directory's: loads what waits (after a restart) and starts dispatching. A server
     * calls it after crash recovery. Returns what it says at start-up.
     */
    public String startQueue() {
        QueueSettings settings = QueueSettings.from(config.settings());
        if (!settings.enabled()) {
            return "off (queue.enabled=false): async requests are admitted or refused at once";
        }
        try {
            queueLock = QueueLock.tryTake(config.dataDir()).orElse(null);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot open the queue lock in " + config.dataDir(), e);
        }
        if (queueLock == null) {
            return "served by another process on " + config.dataDir() + ": async requests here are admitted or "
                    + "refused at once";
        }
        queue = new ExecutionQueue(QueueStores.open(config.dataDir(), config.settings()), store, settings, admission,
                gateway::startAdmitted);
        int waiting = queue.start();
        metrics.bindQueue(queue);
        gateway.serveQueue(queue);
        return queue.describe() + " (" + waiting + " waiting)";
    }

    public SandboxConfig config() {
        return config;
    }

    public ExecutionGateway gateway() {
        return gateway;
    }

    /** The live sessions (the callers check ownership by passing the key's user). */
    public SessionService sessions() {
        return sessions;
    }

    /** Whether records reach their primary store (Redis, where configured). */
    public StoreHealth storeHealth() {
        return store.health();
    }

    public SandboxMetrics metrics() {
        return metrics;
    }

    public JsonMapper json() {
        return json;
    }

    /** The one parser, over the one set of request schemas (also what MCP and OpenAPI advertise). */
    public RequestParser parser() {
        return parser;
    }

    public RequestSchemas schemas() {
        return parser.schemas();
    }

    @Override
    public void close() {
        if (queue != null) {
            queue.close(); // what waits stays in the store for the next start
        }
        if (queueLock != null) {
            queueLock.close();
        }
        admission.close();
        metrics.close();
    }
}
