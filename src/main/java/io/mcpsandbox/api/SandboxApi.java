package io.mcpsandbox.api;

import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.config.ServerConfig;
import io.mcpsandbox.execution.Admission;
import io.mcpsandbox.execution.SandboxServices;
import io.mcpsandbox.callback.CallbackPolicy;
import io.mcpsandbox.callback.CallbackSender;
import io.mcpsandbox.callback.CallbackSettings;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.network.AddressPolicy;
import io.mcpsandbox.network.NameResolver;
import io.mcpsandbox.queue.ExecutionQueue;
import io.mcpsandbox.queue.QueueLock;
import io.mcpsandbox.queue.QueueSettings;
import io.mcpsandbox.queue.QueueStore;
import io.mcpsandbox.queue.QueueStores;
import io.mcpsandbox.record.ExecutionStore;
import io.mcpsandbox.record.ExecutionStoreException;
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
    private volatile io.mcpsandbox.cluster.ClusterNode clusterNode;
    private volatile io.mcpsandbox.cluster.ClusterWork clusterWork;
    private final java.time.Duration admissionWait;
    private ExecutionQueue queue;
    private QueueLock queueLock;
    private CallbackSender callbacks;
    private CallbackPolicy callbackPolicy;

    public SandboxApi(SandboxServices services, ServerConfig server) {
        this.services = services;
        this.config = services.config();
        ServerConfig.AdmissionLimits limits = server.admission();
        this.admission = new Admission(limits.maxConcurrent(), limits.maxPerUser(), limits.queueSize(),
                limits.queueTimeout());
        this.admissionWait = limits.queueTimeout();
        this.store = services.store();
        this.sessions = services.sessions();
        this.metrics = new SandboxMetrics(() -> services.executions().active().size(), store);
        metrics.bindPool(services.pool());
        this.gateway = new ExecutionGateway(services.executions(), services.registry(), admission, metrics,
                services.network().available());
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
        QueueStore queueStore = QueueStores.open(config.dataDir(), config.settings());
        queue = new ExecutionQueue(queueStore, store, settings, admission, gateway::startAdmitted);
        int waiting;
        String callbackState;
        try {
            callbackState = startCallbacks(queueStore);
            if (callbacks != null) { // before load: the executions it ends as cut off call back too
                gateway.serveCallbacks(callbackPolicy, callbacks);
                queue.onEnded(gateway::callBack);
            }
            waiting = queue.load(SandboxServices.SERVER_RESTARTED);
        } catch (ExecutionStoreException e) {
            // Redis down at start: what waits there stays for a start that can read it; nothing is lost.
            if (callbacks != null) {
                gateway.serveCallbacks(null, null);
                callbacks.close();
                callbacks = null;
            }
            queue.close();
            queue = null;
            queueLock.close();
            queueLock = null;
            return "unavailable (" + e.getMessage() + "): async requests here are admitted or refused at once";
        }
        metrics.bindQueue(queue);
        gateway.serveQueue(queue);
        if (callbacks != null) {
            callbacks.resume();
        }
        queue.startDispatching(); // with every hook in place: a resumed execution's callback is not missed
        return queue.describe() + " (" + waiting + " waiting); callbacks: " + callbackState;
    }

    /**
     * Signed result callbacks (docs/callbacks.md), delivered by the process that serves the queue: their outbox
     * lives in its store. Without {@code callbacks.allowed-hosts} a request naming a callback URL is refused.
     */
    private String startCallbacks(QueueStore queueStore) {
        CallbackSettings settings = CallbackSettings.from(config.settings(), config.dataDir());
        if (settings.allowedHosts().isEmpty()) {
            return "off (callbacks.allowed-hosts is empty)";
        }
        callbackPolicy = new CallbackPolicy(settings, new NameResolver(config.settings()), new AddressPolicy());
        callbacks = new CallbackSender(settings, callbackPolicy, queueStore.callbacks(), this::storedResult,
                metrics.registry());
        return "to " + String.join(", ", settings.allowedHosts());
    }

    /** An execution's final result as its callback body: the stored result, as GET /v1/executions/{id} shows it. */
    private java.util.Optional<byte[]> storedResult(String executionId) {
        return store.find(executionId).map(ExecutionRecord::result).map(json::writeValueAsBytes);
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

    /**
     * From now on this server is {@code node} of a cluster: new executions and sessions are refused while the
     * node drains (what runs goes on), a user's executions count against {@code admission.max-per-user} on every
     * node, its gauge is on {@code /metrics}, and {@code GET /v1/cluster} reads it.
     */
    public void serveAsClusterNode(io.mcpsandbox.cluster.ClusterNode node) {
        gateway.acceptNewWorkWhile(node::accepting, node::drainReason);
        sessions.acceptNewSessionsWhile(node::accepting, node::drainReason);
        admission.shareUserLimit(io.mcpsandbox.cluster.ClusterUserSlots.of(node));
        metrics.bindCluster(node);
        // Each execution's record and result name the node that ran it (a spilled one: the node that took it).
        services.executions().recordAsNode(node.id());
        // Sessions: each one opened here is registered as this node's, and calls for others' are routed there.
        io.mcpsandbox.cluster.ClusterSessions.attach(node, sessions, store, java.time.Clock.systemUTC());
        this.clusterNode = node;
        // Work distribution and node-lost handling (docs/cluster.md): a full node spills to the cluster's streams.
        String redisUrl = config.settings().string(io.mcpsandbox.record.ExecutionStores.REDIS_URL, "").trim();
        if (!redisUrl.isEmpty()) {
            // The durable queue (kept in Redis here): a survivor takes over what waits in a lost node's.
            ExecutionQueue served = queue;
            io.mcpsandbox.cluster.ClusterWork.LocalQueue localQueue = served == null ? null : served.redisQueueId()
                    .map(id -> new io.mcpsandbox.cluster.ClusterWork.LocalQueue(id, served::adopt)).orElse(null);
            io.mcpsandbox.cluster.ClusterWork work = new io.mcpsandbox.cluster.ClusterWork(node,
                    new io.mcpsandbox.cluster.ClusterWork.Setup(redisUrl, admissionWait,
                            config.defaultLimits().timeout(), config.standardRuntime(),
                            id -> services.executions().active(id).isPresent(),
                            id -> services.executions().terminate(id) || cancelQueued(served, id), localQueue),
                    admission, store, gateway::startAdmitted, metrics.registry());
            gateway.serveCluster(new ExecutionGateway.Spill() {
                @Override
                public java.util.Optional<ExecutionGateway.Spilled> offer(io.mcpsandbox.model.ExecutionRequest r) {
                    return work.offer(r).map(w -> new ExecutionGateway.Spilled(w.executionId(), w.started(),
                            w.result()));
                }

                @Override
                public boolean terminateElsewhere(String executionId) {
                    return work.terminateElsewhere(executionId);
                }

                @Override
                public java.util.Optional<io.mcpsandbox.queue.QueuedView> queuedElsewhere(String executionId) {
                    return served == null ? java.util.Optional.empty() : work.queuedOn(executionId)
                            .flatMap(on -> served.findIn(on.queueId(), on.running(), executionId));
                }
            }, new ExecutionGateway.RunTracker() {
                        @Override
                        public void started(String executionId) {
                            work.started(executionId);
                        }

                        @Override
                        public void ended(String executionId) {
                            work.ended(executionId);
                        }
                    });
            work.start();
            this.clusterWork = work;
        }
    }

    /** Another node's request to end an execution that waits in this node's queue: it is cancelled (never runs). */
    private static boolean cancelQueued(ExecutionQueue served, String executionId) {
        return served != null && served.cancel(executionId) == ExecutionQueue.CancelOutcome.CANCELLED;
    }

    /** The cluster node this server is, in cluster mode ({@link #serveAsClusterNode}). */
    public java.util.Optional<io.mcpsandbox.cluster.ClusterNode> clusterNode() {
        return java.util.Optional.ofNullable(clusterNode);
    }

    /** The catalog's images and what their vulnerability scans found (never starts a scan). */
    public ImageViews.Images images() throws java.io.IOException {
        return ImageViews.of(services.images(), services.imageScans().scanner());
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
        if (clusterWork != null) {
            gateway.serveCluster(null, null);
            clusterWork.close();
        }
        if (callbacks != null) {
            callbacks.close(); // what is pending stays in the outbox for the next start
        }
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
