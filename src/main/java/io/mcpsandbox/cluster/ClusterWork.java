package io.mcpsandbox.cluster;

import io.mcpsandbox.execution.Admission;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.record.ExecutionStore;
import io.mcpsandbox.record.RedisUrls;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import redis.clients.jedis.AbstractPipeline;
import redis.clients.jedis.AbstractTransaction;
import redis.clients.jedis.RedisClient;
import redis.clients.jedis.Response;
import redis.clients.jedis.StreamEntryID;
import redis.clients.jedis.exceptions.JedisDataException;
import redis.clients.jedis.exceptions.JedisException;
import redis.clients.jedis.params.SetParams;
import redis.clients.jedis.params.XAddParams;
import redis.clients.jedis.params.XClaimParams;
import redis.clients.jedis.params.XPendingParams;
import redis.clients.jedis.params.XReadGroupParams;
import redis.clients.jedis.resps.StreamEntry;
import redis.clients.jedis.resps.StreamGroupInfo;
import redis.clients.jedis.resps.StreamPendingEntry;
import redis.clients.jedis.util.KeyValue;

/**
 * Work distribution and node-lost handling (docs/cluster.md, "Work distribution" and "Node lost"), all under
 * {@value ClusterRedis#PREFIX}:
 * <ul>
 * <li>{@code work:<runtime>}: a stream of spilled requests ({@link WorkEntry}, signed), read by the consumer group
 *     {@value #GROUP} (consumer name: the node id); {@code streams} is the set of runtimes that have one;</li>
 * <li>{@code claim:<executionId>}: the node that started it (SET NX, a day): whoever does not win it does not run
 *     it, so a duplicate delivery never runs twice; an origin that gave up waiting writes {@code withdrawn:<id>};</li>
 * <li>{@code done:<origin>}: a list on which the node that runs a spilled execution says {@code start <id>} and
 *     {@code end <id>} to its origin, which pops it (and polls the record store every second besides);</li>
 * <li>{@code running:<nodeId>}: the executions a node runs now, whatever their path, so a survivor can close them
 *     {@code error} ({@code node lost: <id>}) when it dies; {@code reap:<deadId>}: the survivor doing it.</li>
 * </ul>
 */
public final class ClusterWork implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ClusterWork.class);

    static final String GROUP = "nodes";
    static final String STREAMS = ClusterRedis.PREFIX + "streams";
    /**
     * Entries kept per stream (approximately): what waits or runs, far above what waits in practice. Beyond it the
     * oldest go; their origins withdraw them in time and run them themselves.
     */
    static final long MAX_LEN = 1_000;
    static final Duration CLAIM_TTL = Duration.ofDays(1);
    static final String WITHDRAWN = "withdrawn:";
    static final String NODE_LOST = "node lost: ";
    /** How long a spilled request's run may outlast its timeout before its origin answers {@code error}. */
    static final Duration RUN_MARGIN = Duration.ofSeconds(30);
    private static final Duration DONE_TTL = Duration.ofHours(1);
    private static final int DONE_MAX = 10_000;
    private static final int BLOCK_MS = 1000;
    private static final String UNCERTAIN = "Redis failed as it was sent: it may not be in the stream";
    /** How often a worker settles what it took (besides after any Redis failure): {@link #settleOwn}. */
    private static final Duration SETTLE_EVERY = Duration.ofMinutes(1);
    private static final Duration POLL = Duration.ofSeconds(1);
    private static final Pattern RUNTIME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,62}");
    private static final Pattern QUEUE_ID = Pattern.compile("[A-Za-z0-9-]{1,64}");
    private static final Pattern MESSAGE = Pattern.compile("(start|end) ([A-Za-z0-9][A-Za-z0-9_-]{0,63})");
    private static final Pattern TERMINATE = Pattern.compile(
            "terminate ([A-Za-z0-9][A-Za-z0-9_-]{0,63}) ([0-9a-f]{64})");
    private static final String TERMINATE_LABEL = "mcp-sandbox cluster terminate v1";

    /** Runs a request here with a permit it holds: the gateway's {@code startAdmitted}. */
    @FunctionalInterface
    public interface Starter {
        CompletableFuture<ExecutionResult> start(String executionId, ExecutionRequest request, Admission.Permit permit);
    }

    /** A spilled request as its origin waits for it. */
    public record Remote(String executionId, CompletableFuture<Boolean> started,
                         CompletableFuture<ExecutionResult> result) {
    }

    /**
     * What it needs of the server.
     *
     * @param startWait       how long a spilled request may wait for a node to start it before its origin withdraws
     *                        it and waits for a slot of its own ({@code admission.queue-timeout})
     * @param defaultTimeout  a request's timeout when it names none ({@code limits.default.timeout})
     * @param standardRuntime the runtime of the low and medium levels
     * @param runningHere     whether an execution runs in this process now
     * @param terminateHere   ends an execution running in this process (false: it does not run here)
     * @param queue           this node's durable queue when it is kept in Redis (null: none, or not in Redis)
     */
    public record Setup(String redisUrl, Duration startWait, Duration defaultTimeout,
                        String standardRuntime, Predicate<String> runningHere, Predicate<String> terminateHere,
                        LocalQueue queue) {
    }

    /**
     * This node's durable queue of async executions (docs/queue.md): its id in Redis, published so that a survivor
     * can take over what waits in it when this node is lost, and how this node takes over a lost node's.
     */
    public record LocalQueue(String id, Adopter adopter) {
    }

    /** Moves what waits in another queue into this node's, while {@code guardKey} does not exist; how many moved. */
    @FunctionalInterface
    public interface Adopter {
        int adopt(String otherQueueId, String guardKey, String deadReason);
    }

    private final ClusterNode node;
    private final String me;
    private final ClusterSecret secret;
    private final Setup setup;
    private final Admission admission;
    private final ExecutionStore store;
    private final Starter starter;
    private final RedisClient redis;
    private final Map<String, Pending> pending = new ConcurrentHashMap<>();
    private final Set<String> remoteHere = ConcurrentHashMap.newKeySet();
    private final Map<String, Thread> workers = new ConcurrentHashMap<>();
    private final ExecutorService events = daemon("cluster-work-events");
    /** SADD/SREM of the running set and the ends of remote executions, in order, off the request path. */
    private final ExecutorService tracking = daemon("cluster-work-tracking");
    private final ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "cluster-work-poll");
        t.setDaemon(true);
        return t;
    });
    /** Where a waiting caller's future completes: its answer is written there, never on the reader or poller. */
    private final ExecutorService completions = Executors.newVirtualThreadPerTaskExecutor();
    private final AtomicBoolean eventBusy = new AtomicBoolean();
    /** Redis failures seen so far: a worker settles its stream after each ({@link #settleOwn}). */
    private final AtomicLong troubles = new AtomicLong();
    private volatile Set<String> knownDead;
    private volatile long statuses;
    private volatile boolean closed;
    private volatile boolean redisWarned;
    private volatile long depth;
    private volatile long claimedNow;
    private Thread doneReader;
    private final Counter spilled;
    private final Counter ranLocal;
    private final Counter ranRemote;
    private final Counter duplicates;
    private final Counter dropped;
    private final Counter lost;

    public ClusterWork(ClusterNode node, Setup setup, Admission admission, ExecutionStore store, Starter starter,
                       MeterRegistry metrics) {
        this.node = node;
        this.me = node.id();
        this.secret = node.redis().secret();
        this.setup = setup;
        this.admission = admission;
        this.store = store;
        this.starter = starter;
        // Its own pool: a worker's blocking read holds a connection for a second, never membership's.
        this.redis = RedisUrls.connect(RedisUrls.parse(setup.redisUrl()), Duration.ofMillis(BLOCK_MS + 2000), 16,
                "mcp-sandbox-cluster-work");
        this.spilled = Counter.builder("mcp.sandbox.cluster.spilled")
                .description("Requests this node sent to the cluster's work streams").register(metrics);
        this.ranLocal = Counter.builder("mcp.sandbox.cluster.executions").tag("path", "local")
                .description("Executions started on this node: its own callers' (local) or taken from a work stream "
                        + "(remote)").register(metrics);
        this.ranRemote = Counter.builder("mcp.sandbox.cluster.executions").tag("path", "remote")
                .description("Executions started on this node: its own callers' (local) or taken from a work stream "
                        + "(remote)").register(metrics);
        this.duplicates = Counter.builder("mcp.sandbox.cluster.duplicates")
                .description("Work entries delivered again after their execution started: acknowledged, not run")
                .register(metrics);
        this.dropped = Counter.builder("mcp.sandbox.cluster.dropped")
                .description("Work entries refused (unsigned, altered, oversized, malformed): acknowledged, not run")
                .register(metrics);
        this.lost = Counter.builder("mcp.sandbox.cluster.node.lost.executions")
                .description("Executions this node closed as 'node lost' for a dead node").register(metrics);
        Gauge.builder("mcp.sandbox.cluster.queue.depth", this, w -> w.depth)
                .description("Work stream entries no node has taken yet (all runtimes), as of the last heartbeat")
                .register(metrics);
        Gauge.builder("mcp.sandbox.cluster.claimed", this, w -> w.claimedNow)
                .description("Work entries delivered to a node and not yet acknowledged, as of the last heartbeat")
                .register(metrics);
    }

    private static ExecutorService daemon(String name) {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
    }

    static String streamKey(String runtime) {
        return ClusterRedis.PREFIX + "work:" + runtime;
    }

    static String claimKey(String executionId) {
        return ClusterRedis.PREFIX + "claim:" + executionId;
    }

    static String runningKey(String nodeId) {
        return ClusterRedis.PREFIX + "running:" + nodeId;
    }

    static String doneKey(String nodeId) {
        return ClusterRedis.PREFIX + "done:" + nodeId;
    }

    static String reapKey(String nodeId) {
        return ClusterRedis.PREFIX + "reap:" + nodeId;
    }

    /** The id of the durable queue a node serves (no TTL: read after the node is lost). */
    static String queueKey(String nodeId) {
        return ClusterRedis.PREFIX + "queue:" + nodeId;
    }

    /** Starts listening: workers follow this node's runtimes at each heartbeat, which also finds dead nodes. */
    public void start() {
        node.onHeartbeat(status -> {
            if (!closed && eventBusy.compareAndSet(false, true)) {
                events.execute(() -> {
                    try {
                        onStatus(status);
                    } finally {
                        eventBusy.set(false);
                    }
                });
            }
        });
        doneReader = Thread.ofPlatform().daemon().name("cluster-work-done").start(this::readDone);
        poller.scheduleWithFixedDelay(this::poll, POLL.toMillis(), POLL.toMillis(), TimeUnit.MILLISECONDS);
    }

    // ---- origin: spilling ----

    /**
     * Sends {@code request} (a sync request outside a session that found no free slot here) to the work stream of
     * its runtime when another active node serving that runtime reported free capacity at the last heartbeat.
     * Empty: it stays here.
     */
    public Optional<Remote> offer(ExecutionRequest request) {
        if (closed || node.leaving() || !node.redisReachable() || request.sessionId() != null
                || request.callbackUrl() != null || request.keepStdinOpen() || request.background()
                || request.userId() == null) {
            return Optional.empty();
        }
        String runtime = runtimeOf(request);
        if (runtime == null || !RUNTIME.matcher(runtime).matches() || !roomElsewhere(runtime)) {
            return Optional.empty();
        }
        String json = WorkEntry.json(request);
        if (json == null) {
            return Optional.empty();
        }
        String id = UUID.randomUUID().toString();
        Pending p = new Pending(id, request, runtime);
        pending.put(id, p);
        AbstractPipeline pipe;
        try {
            pipe = redis.pipelined();
        } catch (JedisException e) { // no connection: nothing was sent
            pending.remove(id);
            redisTrouble(e);
            return Optional.empty();
        }
        try (pipe) {
            pipe.sadd(STREAMS, runtime);
            Response<StreamEntryID> added = pipe.xadd(streamKey(runtime), XAddParams.xAddParams().maxLen(MAX_LEN)
                    .approximateTrimming(), WorkEntry.fields(id, me, System.currentTimeMillis(), json, secret));
            pipe.sync();
            try {
                p.entry = added.get();
            } catch (JedisDataException refused) { // Redis answered it with an error: not in the stream
                pending.remove(id);
                redisTrouble(refused);
                return Optional.empty();
            }
            spilled.increment();
            log.info("cluster: execution {} spilled to the {} stream (no free slot here)", id, runtime);
        } catch (JedisException e) {
            // The entry may be in the stream all the same (only the answer was lost): withdrawn now, no node runs it
            // and it runs here; should Redis not answer that either, the poll withdraws it as soon as Redis answers
            // (or finds it started).
            redisTrouble(e);
            p.uncertain = true;
            try {
                withdraw(p, UNCERTAIN);
            } catch (JedisException again) {
                redisTrouble(again);
            }
        }
        return Optional.of(new Remote(id, p.started, p.result));
    }

    /** The runtime the request will run on, as the selector would choose it by name or level. */
    String runtimeOf(ExecutionRequest request) {
        if (request.runtime() != null) {
            return request.runtime();
        }
        SecurityLevel level = request.securityLevel() != null ? request.securityLevel() : SecurityLevel.DEFAULT;
        return switch (level) {
            case LOW, MEDIUM -> setup.standardRuntime();
            case HIGH -> "runsc";
            case CRITICAL -> "microvm";
        };
    }

    private boolean roomElsewhere(String runtime) {
        Optional<ClusterStatus> status = node.lastStatus();
        return status.isPresent() && status.get().nodes().stream()
                .filter(v -> NodeView.ACTIVE.equals(v.state()) && !v.id().equals(me))
                .filter(v -> v.runtimes().contains(runtime))
                .anyMatch(v -> v.capacity().maxInFlight() > 0 && v.capacity().active() >= 0
                        && v.capacity().active() < v.capacity().maxInFlight());
    }

    /** A spilled request its origin waits for. */
    private final class Pending {
        final String id;
        final ExecutionRequest request;
        final String runtime;
        final CompletableFuture<Boolean> started = new CompletableFuture<>();
        final CompletableFuture<ExecutionResult> result = new CompletableFuture<>();
        final long startBy;
        volatile long endBy;
        /** Its XADD failed after it was sent: it may or may not be in the stream. */
        volatile boolean uncertain;
        /** Its stream entry, as XADD answered. */
        volatile StreamEntryID entry;
        /** The Redis failures seen when its entry was last known to be in the stream ({@link #troubles}). */
        volatile long inStreamAt = troubles.get();

        Pending(String id, ExecutionRequest request, String runtime) {
            this.id = id;
            this.request = request;
            this.runtime = runtime;
            this.startBy = System.nanoTime() + setup.startWait().toNanos();
        }

        synchronized void started() {
            if (endBy == 0) {
                long timeout = request.limits().timeoutMs() != null ? request.limits().timeoutMs()
                        : setup.defaultTimeout().toMillis();
                endBy = System.nanoTime() + Duration.ofMillis(timeout).plus(RUN_MARGIN).toNanos();
                completeLater(started, true);
            }
        }

        void ended(ExecutionResult r) {
            started();
            pending.remove(id);
            completeLater(result, r);
        }
    }

    /** The origin's listener: {@code start}/{@code end} messages from the nodes that run its spilled requests. */
    private void readDone() {
        while (!closed) {
            try {
                KeyValue<String, String> m = redis.blpop(BLOCK_MS / 1000.0, doneKey(me));
                if (m != null) {
                    message(m.getValue());
                }
            } catch (JedisException e) {
                if (closed) {
                    return;
                }
                redisTrouble(e);
                pause(POLL);
            } catch (RuntimeException e) {
                log.error("cluster: reading the done list failed", e);
                pause(POLL);
            }
        }
    }

    private void message(String text) {
        var t = text == null || text.length() > 160 ? null : TERMINATE.matcher(text);
        if (t != null && t.matches()) {
            if (ClusterSecret.matches(terminateSignature(t.group(1)), t.group(2))) {
                boolean ended = setup.terminateHere().test(t.group(1));
                log.warn("cluster: execution {} terminated at another node's request{}", t.group(1),
                        ended ? "" : " (it had ended already)");
            } else {
                log.warn("cluster: a terminate message on {} is not signed with the cluster secret: ignored",
                        doneKey(me));
            }
            return;
        }
        var m = text == null || text.length() > 80 ? null : MESSAGE.matcher(text);
        if (m == null || !m.matches()) {
            log.warn("cluster: a message on {} is not one a node writes: ignored", doneKey(me));
            return;
        }
        Pending p = pending.get(m.group(2));
        if (p == null) {
            return;
        }
        if (m.group(1).equals("start")) {
            p.started();
        } else {
            checkEnded(p);
        }
    }

    /** Completes {@code p} from the record store when its record is final. */
    private boolean checkEnded(Pending p) {
        Optional<ExecutionRecord> r = store.find(p.id);
        if (r.isPresent() && r.get().status().isFinal() && r.get().result() != null) {
            p.ended(r.get().result());
            return true;
        }
        return false;
    }

    /** Every second: what a lost message or a Redis blip would leave waiting; withdraws and times out. */
    private void poll() {
        long now = System.nanoTime();
        for (Pending p : List.copyOf(pending.values())) {
            try {
                if (p.endBy == 0) {
                    String claim = redis.get(claimKey(p.id));
                    if (claim != null && !claim.startsWith(WITHDRAWN)) {
                        p.started();
                    } else {
                        String why = givenUp(p, now);
                        if (why != null && withdraw(p, why)) {
                            continue;
                        }
                    }
                }
                if (p.endBy != 0 && checkEnded(p)) {
                    continue;
                }
            } catch (JedisException e) {
                redisTrouble(e);
            } catch (RuntimeException e) {
                log.warn("cluster: checking spilled execution {} failed: {}", p.id, e.toString());
            }
            // The bounds hold whatever Redis and the store say: a caller never hangs.
            if (p.endBy == 0 && now - p.startBy - RUN_MARGIN.toNanos() > 0) {
                giveUp(p, "no node is known to have started it within " + setup.startWait().plus(RUN_MARGIN)
                        .toSeconds() + " s (Redis cannot be reached)");
            } else if (p.endBy != 0 && now - p.endBy > 0) {
                giveUp(p, "the node that ran it did not report its end within its timeout plus "
                        + RUN_MARGIN.toSeconds() + " s");
            }
        }
    }

    /** Why the origin gives unstarted {@code p} up now, or null while a node may still start it. */
    private String givenUp(Pending p, long now) {
        if (p.uncertain) {
            return UNCERTAIN;
        }
        if (now - p.startBy > 0) {
            return "no node started it within " + setup.startWait().toMillis() + " ms";
        }
        return goneFromStream(p) ? "Redis came back without its entry" : null;
    }

    /**
     * After a Redis failure since it was last seen: whether its entry is gone from the stream (Redis came back
     * without it: an acknowledged write it did not keep, or a restart without persistence). Nobody would ever start
     * it, so its origin withdraws it at once instead of at its bound. An entry a worker took stays in the stream
     * until it is acknowledged.
     */
    private boolean goneFromStream(Pending p) {
        long seen = troubles.get();
        if (p.entry == null || p.inStreamAt == seen) {
            return false;
        }
        if (redis.xrange(streamKey(p.runtime), p.entry, p.entry, 1).isEmpty()) {
            return true;
        }
        p.inStreamAt = seen;
        return false;
    }

    private <T> void completeLater(CompletableFuture<T> future, T value) {
        try {
            completions.execute(() -> future.complete(value));
        } catch (java.util.concurrent.RejectedExecutionException e) {
            future.complete(value); // closing
        }
    }

    private void giveUp(Pending p, String why) {
        pending.remove(p.id);
        p.started();
        completeLater(p.result, ExecutionResult.notRun(p.id, ExecutionStatus.ERROR, "spilled execution " + p.id + ": "
                + why + "; its record (GET /v1/executions/" + p.id + ") shows how it ends", p.runtime,
                p.request.securityLevel(), p.request.image(), 0, List.of()));
    }

    /**
     * No node started it in time ({@code why} it is given up): claim it as withdrawn (then nobody will) and let it
     * wait for a slot here. False if a node won the claim first.
     */
    private boolean withdraw(Pending p, String why) {
        String set = redis.set(claimKey(p.id), WITHDRAWN + me, SetParams.setParams().nx().ex(CLAIM_TTL.toSeconds()));
        if (!"OK".equals(set)) {
            p.started(); // a node won the claim just now
            return false;
        }
        pending.remove(p.id);
        log.info("cluster: spilled execution {} withdrawn ({}): it waits for a slot here", p.id, why);
        completeLater(p.started, false);
        return true;
    }

    private String terminateSignature(String executionId) {
        return secret.entrySignature(List.of(TERMINATE_LABEL, executionId));
    }

    /**
     * Asks the node that runs an execution (a spilled one's claim, else the node its running record names: a
     * session's executions run on the session's node) to end it, through that node's list (signed: only a holder
     * of the secret can ask). False when no other live node is known to run it.
     */
    public boolean terminateElsewhere(String executionId) {
        if (closed || executionId.length() > 64) {
            return false;
        }
        try {
            String claim = redis.get(claimKey(executionId));
            Optional<ExecutionRecord> r = store.find(executionId);
            if (r.isPresent() && r.get().status().isFinal()) {
                return false;
            }
            // Not spilled (no claim): an execution in a session another node holds runs on that node, which its
            // running record names; one without a record may wait in another node's queue (that node cancels it).
            // A wrong name costs a message the named node ignores (it runs no such id).
            String on = claim != null ? claim : r.isPresent() ? r.get().node()
                    : queuedOn(executionId).map(QueuedOn::nodeId).orElse(null);
            if (on == null || on.startsWith(WITHDRAWN) || on.equals(me)
                    || !ClusterSettings.NODE_ID_PATTERN.matcher(on).matches()
                    || !node.node(on).map(v -> !NodeView.DEAD.equals(v.state())).orElse(false)) {
                return false;
            }
            tell(on, "terminate " + executionId + " " + terminateSignature(executionId));
            return true;
        } catch (JedisException e) {
            redisTrouble(e);
            return false;
        }
    }

    /**
     * Another node's durable queue that holds an execution: the node, the queue's id in Redis, and what that node
     * runs now (its queue keeps an item until its execution ends: those are not waiting).
     */
    public record QueuedOn(String nodeId, String queueId, Set<String> running) {
    }

    /**
     * The other node (as of the last heartbeat's listing) whose durable queue holds {@code executionId}: it waits
     * there, unless that node runs it. Three round trips (the nodes' queue ids, one existence check per queue, the
     * holder's running set). Empty when none does.
     */
    public Optional<QueuedOn> queuedOn(String executionId) {
        ClusterStatus status = node.lastStatus().orElse(null);
        if (closed || status == null || executionId.length() > 64) {
            return Optional.empty();
        }
        List<String> others = status.nodes().stream().map(NodeView::id).filter(id -> !id.equals(me)).toList();
        if (others.isEmpty()) {
            return Optional.empty();
        }
        try {
            List<String> queues = redis.mget(others.stream().map(ClusterWork::queueKey).toArray(String[]::new));
            List<QueuedOn> candidates = new java.util.ArrayList<>();
            for (int n = 0; n < others.size(); n++) {
                String q = queues.get(n);
                if (q != null && QUEUE_ID.matcher(q).matches()) {
                    candidates.add(new QueuedOn(others.get(n), q, Set.of()));
                }
            }
            List<redis.clients.jedis.Response<Boolean>> found = new java.util.ArrayList<>();
            try (AbstractPipeline p = redis.pipelined()) {
                for (QueuedOn c : candidates) {
                    found.add(p.exists(io.mcpsandbox.queue.RedisQueueStore.itemKey(c.queueId(), executionId)));
                }
                p.sync();
            }
            for (int n = 0; n < candidates.size(); n++) {
                if (Boolean.TRUE.equals(found.get(n).get())) {
                    QueuedOn c = candidates.get(n);
                    return Optional.of(new QueuedOn(c.nodeId(), c.queueId(),
                            Set.copyOf(redis.smembers(runningKey(c.nodeId())))));
                }
            }
            return Optional.empty();
        } catch (JedisException e) {
            redisTrouble(e);
            return Optional.empty();
        }
    }

    // ---- every node: the running set ----

    /** An execution started in this process (any path). */
    public void started(String executionId) {
        if (!remoteHere.contains(executionId)) {
            ranLocal.increment();
        }
        track(() -> redis.sadd(runningKey(me), executionId));
    }

    /** An execution of this process ended (its record is written). */
    public void ended(String executionId) {
        remoteHere.remove(executionId);
        track(() -> redis.srem(runningKey(me), executionId));
    }

    private void track(Runnable write) {
        if (closed) {
            return;
        }
        tracking.execute(() -> {
            try {
                write.run();
            } catch (JedisException e) {
                redisTrouble(e);
            }
        });
    }

    // ---- workers ----

    private void onStatus(ClusterStatus status) {
        if (closed) {
            return;
        }
        statuses++;
        List<String> mine = status.nodes().stream().filter(v -> v.id().equals(me)).findFirst()
                .map(NodeView::runtimes).orElse(List.of());
        boolean first = knownDead == null;
        if (first) {
            recoverOwn(mine);
        }
        publishQueue();
        for (String runtime : mine) {
            if (RUNTIME.matcher(runtime).matches()) {
                workers.computeIfAbsent(runtime, r -> Thread.ofPlatform().daemon().name("cluster-worker-" + r)
                        .start(() -> work(r)));
            }
        }
        // Lost, not merely listed dead: after a Redis outage every entry may have expired until its next heartbeat.
        Set<String> dead = new HashSet<>(node.lostNodes());
        Set<String> before = first ? Set.of() : knownDead;
        knownDead = dead;
        for (String d : dead) {
            // Newly dead (or dead when this node started); every 20th heartbeat again, should a reaper have died.
            if (!d.equals(me) && (!before.contains(d) || statuses % 20 == 0)) {
                reap(d);
            }
        }
        measure();
    }

    /** The gauges: entries no node has taken yet (the group's lag) and entries taken but not acknowledged. */
    private void measure() {
        try {
            long waiting = 0;
            long taken = 0;
            for (String runtime : streams()) {
                List<StreamGroupInfo> groups;
                try {
                    groups = redis.xinfoGroups(streamKey(runtime));
                } catch (JedisDataException e) {
                    continue; // no such stream (yet)
                }
                for (StreamGroupInfo g : groups) {
                    if (GROUP.equals(g.getName())) {
                        Object lag = g.getGroupInfo().get("lag");
                        waiting += lag instanceof Long l ? l : 0;
                        taken += g.getPending();
                    }
                }
            }
            depth = waiting;
            claimedNow = taken;
            if (redisWarned) {
                redisWarned = false;
                log.warn("cluster: work distribution reaches Redis again");
            }
        } catch (JedisException e) {
            redisTrouble(e);
        }
    }

    private List<String> streams() {
        return redis.smembers(STREAMS).stream().filter(r -> RUNTIME.matcher(r).matches()).limit(64).toList();
    }

    private void ensureGroup(String key) {
        try {
            redis.xgroupCreate(key, GROUP, new StreamEntryID(0, 0), true);
        } catch (JedisDataException e) {
            if (e.getMessage() == null || !e.getMessage().startsWith("BUSYGROUP")) {
                throw e;
            }
        }
    }

    /**
     * One runtime's consumer: reads only while a slot is free here (and nobody here waits for one), so it takes no
     * work it cannot start. It holds no slot while it waits for an entry, so its own callers never find their node
     * full because of it; should one take the last slot meanwhile, the entry is handed back ({@link #deliver}).
     */
    private void work(String runtime) {
        String key = streamKey(runtime);
        boolean grouped = false;
        long settledAt = troubles.get(); // what the start left was settled by recoverOwn
        long settleBy = System.nanoTime() + SETTLE_EVERY.toNanos();
        while (!closed) {
            try {
                if (!grouped) {
                    redis.sadd(STREAMS, runtime);
                    ensureGroup(key);
                    grouped = true;
                }
                long troubled = troubles.get();
                if (troubled != settledAt || System.nanoTime() - settleBy > 0) {
                    settleOwn(key);
                    settledAt = troubled;
                    settleBy = System.nanoTime() + SETTLE_EVERY.toNanos();
                }
                if (!node.accepting() || node.leaving()) { // draining or stopping: no new work from the cluster
                    pause(Duration.ofMillis(BLOCK_MS));
                    continue;
                }
                if (admission.running() >= admission.maxConcurrent() || admission.queued() > 0) {
                    pause(Duration.ofMillis(50));
                    continue;
                }
                List<Map.Entry<String, List<StreamEntry>>> read = redis.xreadGroup(GROUP, me,
                        XReadGroupParams.xReadGroupParams().count(1).block(BLOCK_MS),
                        Map.of(key, StreamEntryID.XREADGROUP_UNDELIVERED_ENTRY));
                if (read != null) {
                    for (Map.Entry<String, List<StreamEntry>> stream : read) {
                        for (StreamEntry e : stream.getValue()) {
                            deliver(key, e);
                        }
                    }
                }
            } catch (JedisDataException e) {
                if (e.getMessage() != null && e.getMessage().startsWith("NOGROUP")) {
                    grouped = false; // the stream was deleted: make it again
                } else {
                    redisTrouble(e);
                    pause(POLL);
                }
            } catch (JedisException e) {
                if (closed) {
                    return;
                }
                redisTrouble(e);
                pause(POLL);
            } catch (RuntimeException e) {
                log.error("cluster: worker for {} failed", runtime, e);
                pause(POLL);
            }
        }
    }

    /** A delivered entry: refused, a duplicate, put back (no slot for its user after all), or started here. */
    private void deliver(String key, StreamEntry e) {
        WorkEntry w;
        try {
            w = WorkEntry.parse(e.getFields(), secret);
        } catch (WorkEntry.Refused refused) {
            drop(key, e, refused);
            return;
        }
        Admission.Attempt slot = admission.tryAcquire(w.request().userId());
        Admission.Permit permit = slot.permit();
        if (permit == null) {
            // The slot went meanwhile, or the user is at its limit (across the cluster): for another node, or later.
            putBack(key, e);
            pause(Duration.ofMillis(slot.refusal() == Admission.Refusal.USER_LIMIT ? 500 : 100));
            return;
        }
        String claim;
        try {
            claim = redis.set(claimKey(w.executionId()), me, SetParams.setParams().nx().ex(CLAIM_TTL.toSeconds()));
        } catch (JedisException ex) {
            permit.close(); // the entry stays taken here until settleOwn sorts it out
            throw ex;
        }
        if (!"OK".equals(claim)) {
            permit.close();
            remove(key, e.getID());
            duplicates.increment();
            log.info("cluster: execution {} was delivered again after it started ({}): acknowledged, not run",
                    w.executionId(), redis.get(claimKey(w.executionId())));
            return;
        }
        remoteHere.add(w.executionId());
        try {
            tell(w.origin(), "start " + w.executionId());
        } catch (JedisException ex) {
            redisTrouble(ex); // the claim is written: the origin's poll finds it started
        }
        ranRemote.increment(); // before it is listed as running here
        CompletableFuture<ExecutionResult> result;
        try {
            result = starter.start(w.executionId(), w.request(), permit);
        } catch (RuntimeException ex) {
            remoteHere.remove(w.executionId());
            log.error("cluster: spilled execution {} could not start here", w.executionId(), ex);
            closeLost(w.executionId(), w, "could not start on node " + me + ": " + ex.getMessage());
            finish(key, e.getID(), w);
            return;
        }
        log.info("cluster: execution {} from node {} runs here", w.executionId(), w.origin());
        result.whenComplete((r, ex) -> tracking.execute(() -> finish(key, e.getID(), w)));
    }

    /**
     * What this node took from {@code key} and left unsettled: a read, claim or acknowledgement whose answer Redis
     * lost leaves an entry in this consumer's pending list, where no other node looks while this one lives. Runs on
     * the stream's own worker, never beside a delivery of it: an entry nobody claimed goes back to the stream; one
     * claimed here that never started is released and goes back; one that ended here is done (its origin told);
     * one withdrawn or run elsewhere is acknowledged; one running here is left to its finish.
     */
    private void settleOwn(String key) {
        List<StreamPendingEntry> mine = pendingOf(key, me);
        if (mine.isEmpty()) {
            return;
        }
        log.debug("cluster: settling {} entries of {} pending here", mine.size(), key);
        List<StreamEntry> entries = redis.xclaim(key, GROUP, me, 0, XClaimParams.xClaimParams(),
                mine.stream().map(StreamPendingEntry::getID).toArray(StreamEntryID[]::new));
        forEachTaken(key, mine, entries, (e, w) -> {
            String id = w.executionId();
            if (remoteHere.contains(id)) {
                return;
            }
            String claim = redis.get(claimKey(id));
            if (claim == null) {
                putBack(key, e);
                log.info("cluster: execution {} was taken here but not claimed: handed on", id);
            } else if (!claim.equals(me)) {
                remove(key, e.getID());
            } else {
                Optional<ExecutionRecord> r = store.find(id);
                if (r.isEmpty()) {
                    redis.eval(ClusterRedis.DELETE_IF_EQUAL, List.of(claimKey(id)), List.of(me)); // still ours only
                    putBack(key, e);
                    log.info("cluster: execution {} was claimed here but never started: handed on", id);
                } else if (r.get().status().isFinal()) {
                    remove(key, e.getID());
                    tell(w.origin(), "end " + id);
                }
                // A record not final of an execution not running here: none in one process's life (a start that
                // failed closes its record); after a restart recoverOwn settles it.
            }
        });
    }

    /** The execution's record is written: the entry is done, its origin told. */
    private void finish(String key, StreamEntryID entry, WorkEntry w) {
        try {
            remove(key, entry);
            tell(w.origin(), "end " + w.executionId());
        } catch (JedisException e) {
            redisTrouble(e); // the origin's poll reads the record; the entry stays pending (its claim stops a rerun)
        }
    }

    /** A message on a node's list (bounded, expiring should the node be gone for good). */
    private void tell(String nodeId, String message) {
        try (AbstractPipeline p = redis.pipelined()) {
            p.lpush(doneKey(nodeId), message);
            p.ltrim(doneKey(nodeId), 0, DONE_MAX - 1);
            p.expire(doneKey(nodeId), DONE_TTL.toSeconds());
            p.sync();
        }
    }

    private void drop(String key, StreamEntry e, WorkEntry.Refused why) {
        dropped.increment();
        log.warn("cluster: work entry {} on {} refused ({}): acknowledged and dropped", e.getID(), key,
                why.getMessage());
        remove(key, e.getID());
    }

    /**
     * Done with entries: acknowledged and deleted, so a stream holds only what waits or runs (a request is up to
     * 1 MiB); {@link #MAX_LEN} bounds what waits.
     */
    private void remove(String key, StreamEntryID... ids) {
        try (AbstractTransaction t = redis.multi()) {
            t.xack(key, GROUP, ids);
            t.xdel(key, ids);
            t.exec();
        }
    }

    /** Hands an unstarted entry on to any node: a copy at the stream's end, the delivered one acknowledged. */
    private void putBack(String key, StreamEntry e) {
        try (AbstractTransaction t = redis.multi()) {
            t.xadd(key, XAddParams.xAddParams().maxLen(MAX_LEN).approximateTrimming(), e.getFields());
            t.xack(key, GROUP, e.getID());
            t.xdel(key, e.getID());
            t.exec();
        }
    }

    // ---- node lost ----

    /** At start: what this node had taken before it restarted, and its running set of then. */
    private void recoverOwn(List<String> runtimes) {
        try {
            for (String runtime : runtimes) {
                if (RUNTIME.matcher(runtime).matches()) {
                    ensureGroup(streamKey(runtime));
                    redis.sadd(STREAMS, runtime);
                }
            }
            for (String runtime : streams()) {
                String key = streamKey(runtime);
                List<StreamPendingEntry> mine = pendingOf(key, me);
                if (!mine.isEmpty()) {
                    List<StreamEntry> entries = redis.xclaim(key, GROUP, me, 0, XClaimParams.xClaimParams(),
                            mine.stream().map(StreamPendingEntry::getID).toArray(StreamEntryID[]::new));
                    settle(key, mine, entries, me);
                }
            }
            closeRunningSet(me, id -> !setup.runningHere().test(id));
        } catch (JedisException e) {
            redisTrouble(e);
        }
    }

    private List<StreamPendingEntry> pendingOf(String key, String consumer) {
        try {
            return redis.xpending(key, GROUP, XPendingParams.xPendingParams().count(1000).consumer(consumer));
        } catch (JedisDataException e) {
            return List.of(); // no group on this stream
        }
    }

    /**
     * A node is dead: one survivor (the lock) closes what it ran as {@code error} ({@code node lost}), tells the
     * origins, and hands on what it had taken but not started.
     */
    void reap(String dead) {
        try {
            // Alive again (restarted with its id, or a pause longer than dead-after): its work is its own.
            if (redis.exists(ClusterRedis.nodeKey(dead))
                    || !"OK".equals(redis.set(reapKey(dead), me, SetParams.setParams().nx().ex(60)))) {
                return;
            }
            int closedCount = 0;
            for (String runtime : streams()) {
                String key = streamKey(runtime);
                List<StreamPendingEntry> theirs = pendingOf(key, dead);
                if (theirs.isEmpty()) {
                    continue;
                }
                List<StreamEntry> entries = redis.xclaim(key, GROUP, me, 0, XClaimParams.xClaimParams(),
                        theirs.stream().map(StreamPendingEntry::getID).toArray(StreamEntryID[]::new));
                closedCount += settle(key, theirs, entries, dead);
                try {
                    redis.xgroupDelConsumer(key, GROUP, dead);
                } catch (JedisDataException e) {
                    // gone already
                }
            }
            if (!redis.exists(ClusterRedis.nodeKey(dead))) {
                closedCount += closeRunningSet(dead, id -> true);
            }
            if (closedCount > 0) {
                log.warn("cluster: node {} is dead: {} of its executions closed as '{}{}'", dead, closedCount,
                        NODE_LOST, dead);
            }
            adoptQueue(dead);
        } catch (JedisException e) {
            redisTrouble(e);
        } catch (RuntimeException e) {
            log.error("cluster: handling the work of dead node {} failed", dead, e);
        }
    }

    /** Says which queue this node serves, every heartbeat (Redis may have restarted empty). */
    private void publishQueue() {
        if (setup.queue() == null) {
            return;
        }
        try {
            redis.set(queueKey(me), setup.queue().id());
        } catch (JedisException e) {
            redisTrouble(e);
        }
    }

    /**
     * What waits in a lost node's durable queue runs here: each item moves into this node's queue in one step, and
     * only while the node's id claim ({@link NodeClaim}) is absent. A restarted node takes its claim before it reads
     * its queue, so each item is read by one of the two.
     */
    private void adoptQueue(String dead) {
        if (setup.queue() == null) {
            return;
        }
        String theirs = redis.get(queueKey(dead));
        if (theirs == null) {
            return;
        }
        int moved = setup.queue().adopter().adopt(theirs, NodeClaim.key(dead), NODE_LOST + dead);
        if (moved > 0) {
            log.warn("cluster: node {} is dead: {} executions that waited in its queue run here", dead, moved);
        }
    }

    /**
     * The entries {@code owner} had taken, now claimed here: started ones (its claim) end {@code node lost},
     * unstarted ones go back to the stream for any node, the rest are acknowledged. Returns how many it closed.
     */
    private int settle(String key, List<StreamPendingEntry> taken, List<StreamEntry> entries, String owner) {
        int[] closedCount = {0};
        forEachTaken(key, taken, entries, (e, w) -> {
            String claim = redis.get(claimKey(w.executionId()));
            if (claim == null) {
                putBack(key, e); // never started: it runs once, wherever a slot is free
                log.info("cluster: execution {} taken by node {} but not started: handed on", w.executionId(), owner);
            } else if (claim.equals(owner)) {
                if (closeLost(w.executionId(), w, NODE_LOST + owner)) {
                    closedCount[0]++;
                }
                remove(key, e.getID());
                tell(w.origin(), "end " + w.executionId());
            } else {
                remove(key, e.getID()); // withdrawn by its origin, or run by another node
            }
        });
        return closedCount[0];
    }

    /** What is done with one taken entry, once it parsed. */
    private interface TakenEntry {
        void settle(StreamEntry e, WorkEntry w);
    }

    /**
     * Each of {@code entries} (the ones of {@code taken} still in the stream) to {@code each}, after dropping one that
     * does not parse; the entries trimmed from the stream meanwhile have nothing to run, only their pending place to
     * free.
     */
    private void forEachTaken(String key, List<StreamPendingEntry> taken, List<StreamEntry> entries, TakenEntry each) {
        Set<StreamEntryID> seen = new HashSet<>();
        for (StreamEntry e : entries) {
            if (e == null || e.getID() == null) {
                continue;
            }
            seen.add(e.getID());
            try {
                each.settle(e, WorkEntry.parse(e.getFields(), secret));
            } catch (WorkEntry.Refused refused) {
                drop(key, e, refused);
            }
        }
        List<StreamEntryID> gone = taken.stream().map(StreamPendingEntry::getID).filter(id -> !seen.contains(id))
                .toList();
        if (!gone.isEmpty()) {
            remove(key, gone.toArray(StreamEntryID[]::new));
        }
    }

    /** Closes the unfinished executions of a node's running set (those {@code close} accepts) and deletes it. */
    private int closeRunningSet(String nodeId, Predicate<String> close) {
        int closedCount = 0;
        String key = runningKey(nodeId);
        for (String id : redis.smembers(key)) {
            if (id.length() <= 64 && close.test(id) && closeLost(id, null, NODE_LOST + nodeId)) {
                closedCount++;
            }
        }
        redis.del(key);
        return closedCount;
    }

    /**
     * Ends the execution's record {@code error} with {@code reason} unless it is final already (a record is never
     * overwritten with another end). A claimed entry that never wrote its record gets one. True if it closed it.
     */
    private boolean closeLost(String executionId, WorkEntry w, String reason) {
        Instant now = Instant.now();
        Optional<ExecutionRecord> r = store.find(executionId);
        if (r.isPresent()) {
            if (r.get().status().isFinal()) {
                return false;
            }
            store.recordEnd(r.get().cutOff(reason, now));
        } else if (w != null) {
            ExecutionRequest q = w.request();
            ExecutionRecord started = ExecutionRecord.started(executionId, q.userId(), null, q.image(),
                    runtimeOf(q), q.securityLevel() != null ? q.securityLevel() : SecurityLevel.DEFAULT,
                    q.command(), q.language(), Instant.ofEpochMilli(w.writtenAt()));
            store.recordStart(started);
            store.recordEnd(started.cutOff(reason, now));
        } else {
            return false;
        }
        lost.increment();
        log.warn("cluster: execution {} closed as error: {}", executionId, reason);
        return true;
    }

    // ----

    private void redisTrouble(JedisException e) {
        troubles.incrementAndGet();
        if (!redisWarned) {
            redisWarned = true;
            log.warn("cluster: work distribution cannot reach Redis ({}): requests run here meanwhile", e.getMessage());
        }
    }

    private static void pause(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** How many spilled requests this node waits for. */
    int waiting() {
        return pending.size();
    }

    @Override
    public void close() {
        closed = true;
        poller.shutdownNow();
        events.shutdownNow();
        workers.values().forEach(Thread::interrupt);
        if (doneReader != null) {
            doneReader.interrupt();
        }
        tracking.shutdown();
        try {
            tracking.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        completions.shutdown();
        for (Pending p : List.copyOf(pending.values())) {
            p.started.complete(true);
            p.result.complete(ExecutionResult.notRun(p.id, ExecutionStatus.ERROR, "this node stopped while it "
                    + "waited for execution " + p.id + " on another node: its record shows how it ends", p.runtime,
                    p.request.securityLevel(), p.request.image(), 0, List.of()));
        }
        redis.close();
    }
}
