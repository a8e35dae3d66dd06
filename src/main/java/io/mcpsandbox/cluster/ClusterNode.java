package io.mcpsandbox.cluster;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import redis.clients.jedis.exceptions.JedisException;

/**
 * This server as a member of the cluster: checks the join and takes its node id before the server starts
 * ({@link #open}), then registers and refreshes its entry every heartbeat ({@link #start}), obeys its drain flag, and
 * leaves at once on a clean stop ({@link #close}). A node id is held by one process at a time ({@link NodeClaim}):
 * a second live server started with the same id is refused.
 *
 * <p>A Redis outage costs the cluster's view, never local service: the node keeps serving, says so once, and
 * registers again (after checking the join again: Redis may have come back empty, or another cluster's) when
 * Redis answers. Its drain state stays what it last read.
 */
public final class ClusterNode implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ClusterNode.class);

    private static final Duration REDIS_TIMEOUT = Duration.ofSeconds(2);

    private final ClusterSettings settings;
    private final String id;
    private final String version;
    private final ClusterRedis redis;
    private final NodeClaim claim;
    private final Clock clock;
    private final ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "cluster-heartbeat");
        t.setDaemon(true);
        return t;
    });
    private volatile boolean draining;
    private volatile boolean registered;
    private volatile boolean redisDown;
    private volatile boolean joinChecked;
    private volatile String refusedWhy;
    /** Why this node stays out of the cluster while another process holds its id (found by a heartbeat). */
    private volatile String idHeldWhy;
    private volatile boolean invalidFlagSaid;
    private volatile ClusterStatus lastStatus;
    /** When this node's unbroken run of heartbeats that reached Redis began, and its last one (the beat's lock). */
    private Instant watchingSince;
    private Instant lastStatusAt;
    private volatile Set<String> lost = Set.of();
    private final List<Consumer<ClusterStatus>> heartbeatListeners = new CopyOnWriteArrayList<>();
    private volatile String url;
    private volatile Supplier<NodeReport> report;
    private volatile Instant joinedAt;
    private volatile boolean closed;

    private ClusterNode(ClusterSettings settings, String id, String version, ClusterRedis redis, Clock clock) {
        this.settings = settings;
        this.id = id;
        this.version = version;
        this.redis = redis;
        this.claim = new NodeClaim(redis.client(), settings.secret(), id, settings.deadAfter(), clock);
        this.clock = clock;
    }

    /**
     * Connects, checks the join and takes the node id (waiting up to {@code cluster.dead-after} when its claim is
     * still in Redis: see {@link NodeClaim}); from then on the id's claim is renewed every heartbeat, also before
     * {@link #start}. Redis unreachable: a warning, and both are done when it answers.
     *
     * @throws ClusterJoinException the cluster in Redis has another protocol or another secret, or another live
     *                              server holds this node id: do not start
     */
    public static ClusterNode open(ClusterSettings settings, String nodeId, String version, Clock clock)
            throws ClusterJoinException {
        // Bounded whatever the heartbeat: a stalled Redis delays a heartbeat (and a clean stop) by this much at most.
        ClusterRedis redis = new ClusterRedis(settings.redisUrl(), settings.secret(), REDIS_TIMEOUT, clock);
        ClusterNode node = new ClusterNode(settings, nodeId, version, redis, clock);
        try {
            redis.checkJoin();
            node.joinChecked = true;
            node.claim.acquire(pollOf(settings.heartbeat()));
            node.draining = redis.drainFlagged(nodeId);
        } catch (ClusterJoinException e) {
            redis.close();
            throw e;
        } catch (JedisException e) {
            node.redisDown = true;
            log.warn("cluster: Redis at {} cannot be reached ({}): this node serves locally and joins the cluster "
                    + "when Redis answers", redis.maskedUrl(), e.getMessage());
        }
        long every = settings.heartbeat().toMillis();
        node.ticker.scheduleWithFixedDelay(node::beat, every, every, TimeUnit.MILLISECONDS);
        return node;
    }

    /** How often a starting node reads the claim of an id another process holds: a few times per heartbeat. */
    private static Duration pollOf(Duration heartbeat) {
        long ms = Math.max(20, Math.min(250, heartbeat.toMillis() / 4));
        return Duration.ofMillis(ms);
    }

    /** Registers at {@code url} (what other nodes will call) and starts the heartbeat. */
    public void start(String advertisedUrl, Supplier<NodeReport> reporter) {
        this.url = advertisedUrl;
        this.report = reporter;
        this.joinedAt = clock.instant();
        beat();
    }

    /**
     * One heartbeat: the join (after an outage), the node id's claim (before {@link #start}, only that), the drain
     * flag, the entry, then the counts for the gauges.
     */
    private synchronized void beat() {
        if (closed) {
            return;
        }
        try {
            if (!joinChecked) {
                redis.checkJoin();
                joinChecked = true;
                refusedWhy = null;
            }
            if (!holdId()) {
                return;
            }
            if (report == null) {
                return; // not serving yet: the claim only
            }
            boolean flagged = redis.drainFlagged(id);
            if (!flagged && !invalidFlagSaid && redis.drainKeyExists(id)) {
                invalidFlagSaid = true;
                log.warn("cluster: the drain flag of node {} in Redis does not carry the cluster secret's proof: it is "
                        + "ignored (set it with 'mcp-sandbox cluster drain')", id);
            }
            if (flagged != draining) {
                log.warn("cluster: node {} is {}", id, flagged ? "DRAINING: new executions and sessions are refused "
                        + "here; running ones and open sessions go on" : "active again: it takes new work");
            }
            draining = flagged;
            NodeReport r = bounded(report.get());
            redis.heartbeat(id, url, version, r, flagged, joinedAt, settings.deadAfter());
            if (redisDown) {
                log.warn("cluster: Redis answers again: node {} is back in the cluster as {}", id, url);
            } else if (!registered) {
                log.info("cluster: node {} joined the cluster in Redis at {} as {}", id, redis.maskedUrl(), url);
            }
            registered = true;
            redisDown = false;
            ClusterStatus now = redis.status();
            lastStatus = now;
            lost = confirmLost(now);
            for (Consumer<ClusterStatus> listener : heartbeatListeners) {
                try {
                    listener.accept(now);
                } catch (RuntimeException e) {
                    log.error("cluster: a heartbeat listener of node {} failed", id, e);
                }
            }
        } catch (ClusterJoinException e) {
            // Redis came back holding another cluster: serve locally, stay out of it.
            registered = false;
            if (refusedWhy == null) {
                refusedWhy = e.getMessage();
                log.error("cluster: node {} stays out of the cluster: {}", id, e.getMessage());
            }
        } catch (JedisException | IllegalStateException e) {
            if (!redisDown) {
                redisDown = true;
                joinChecked = false; // Redis may come back empty, or another cluster's
                log.warn("cluster: Redis at {} cannot be reached ({}): node {} keeps serving locally and registers "
                        + "again when Redis answers", redis.maskedUrl(), e.getMessage(), id);
            }
        } catch (RuntimeException e) {
            log.error("cluster: heartbeat of node {} failed", id, e);
        }
    }

    /**
     * Renews this process's claim of the node id, or takes it when nobody alive holds it. False while another
     * process holds it: this node stays out of the cluster (it serves locally) and tries again every heartbeat.
     */
    private boolean holdId() {
        NodeClaim.Holder other = claim.refresh(url);
        if (other == null) {
            if (idHeldWhy != null) {
                idHeldWhy = null;
                log.warn("cluster: node {} holds its id again", id);
            }
            return true;
        }
        registered = false;
        if (idHeldWhy == null) {
            idHeldWhy = "node id '" + id + "' is held in Redis by another server (" + (other.url() == null
                    ? "no address advertised yet" : "at " + other.url()) + "): this node stays out of the cluster "
                    + "until that claim expires (a previous run of this node that did not leave) or is given up. If "
                    + "two live servers share the id, give one of them another " + ClusterSettings.NODE_ID;
            log.error("cluster: {}", idHeldWhy);
        }
        return false;
    }

    /**
     * The nodes listed dead that are lost: a node's entry expires {@code cluster.dead-after} after its last heartbeat,
     * but after a Redis outage (or restart) every entry may have expired until its owner's next heartbeat. So a dead
     * node is lost when it stopped while this node watched Redis answer without a break (its last heartbeat is within
     * this node's unbroken run of heartbeats: it had its whole dead-after to beat again); one whose last heartbeat
     * is older is lost only once this node's unbroken run has lasted dead-after. A run breaks when two heartbeats
     * of this node are more than twice the heartbeat apart (Redis did not answer in between).
     */
    private Set<String> confirmLost(ClusterStatus status) {
        Instant at = clock.instant();
        if (lastStatusAt == null || Duration.between(lastStatusAt, at).compareTo(settings.heartbeat().multipliedBy(2))
                > 0) {
            watchingSince = at;
        }
        lastStatusAt = at;
        Set<String> confirmed = new java.util.HashSet<>();
        for (NodeView v : status.nodes()) {
            if (!NodeView.DEAD.equals(v.state()) || v.id().equals(id)) {
                continue;
            }
            boolean stoppedWhileWatched = v.heartbeatAt() != null && !v.heartbeatAt().isBefore(watchingSince);
            if (stoppedWhileWatched || !at.isBefore(watchingSince.plus(settings.deadAfter()))) {
                confirmed.add(v.id());
            }
        }
        return Set.copyOf(confirmed);
    }

    /**
     * Whether {@code nodeId} is lost (see {@link #confirmLost}): its work may be taken over, its sessions closed. A
     * node listed dead but not lost has only not answered since Redis came back.
     */
    public boolean isLost(String nodeId) {
        return lost.contains(nodeId);
    }

    /** The nodes {@link #isLost lost} as of the last heartbeat. */
    public Set<String> lostNodes() {
        return lost;
    }

    /** At most {@link ClusterRedis#MAX_LIST} names of each list: the entry stays small. */
    private static NodeReport bounded(NodeReport r) {
        return new NodeReport(r.runtimes().stream().limit(ClusterRedis.MAX_LIST).toList(),
                r.images().stream().limit(ClusterRedis.MAX_LIST).toList(), r.maxInFlight(), r.active(), r.poolReady());
    }

    public String id() {
        return id;
    }

    public String url() {
        return url;
    }

    /** False while this node drains: new executions and sessions are refused. */
    public boolean accepting() {
        return !draining;
    }

    public boolean draining() {
        return draining;
    }

    /** What a caller refused during a drain is told. */
    public String drainReason() {
        return "node " + id + " is draining (mcp-sandbox cluster drain): it takes no new executions or sessions; "
                + "running ones and open sessions finish here. Send new work to another node of the cluster";
    }

    /** Nodes by state as of the last heartbeat (the gauges' source); all zero before the first. */
    public ClusterStatus.Counts counts() {
        ClusterStatus s = lastStatus;
        return s == null ? new ClusterStatus.Counts(0, 0, 0) : s.counts();
    }

    /** The cluster as this node read it at its last heartbeat that reached Redis; empty before the first. */
    public Optional<ClusterStatus> lastStatus() {
        return Optional.ofNullable(lastStatus);
    }

    /** A node as of the last heartbeat (live, or dead for up to {@link ClusterRedis#KEEP_DEAD}); empty if unlisted. */
    public Optional<NodeView> node(String nodeId) {
        ClusterStatus s = lastStatus;
        return s == null ? Optional.empty() : s.nodes().stream().filter(v -> v.id().equals(nodeId)).findFirst();
    }

    /**
     * Calls {@code listener} on the heartbeat thread after each heartbeat that reached Redis, with what it read.
     * A listener must be quick (it delays the next heartbeat); one that throws is logged and kept.
     */
    public void onHeartbeat(Consumer<ClusterStatus> listener) {
        heartbeatListeners.add(listener);
    }

    /** After how long without a heartbeat a node counts as dead ({@code cluster.dead-after}). */
    Duration deadAfter() {
        return settings.deadAfter();
    }

    /** True once this node has left the cluster (a stopping server): it takes no new work from the cluster. */
    boolean leaving() {
        return closed;
    }

    /** The cluster's Redis, for the parts of cluster mode built on it (work, sessions). */
    ClusterRedis redis() {
        return redis;
    }

    /** Whether Redis answered the last heartbeat. */
    public boolean redisReachable() {
        return !redisDown;
    }

    /** Why this node stays out of the cluster Redis holds now, if it does. */
    public Optional<String> refused() {
        return Optional.ofNullable(refusedWhy != null ? refusedWhy : idHeldWhy);
    }

    /** The cluster as Redis holds it now. Throws {@link JedisException} when Redis cannot be reached. */
    public ClusterStatus status() {
        return redis.status();
    }

    /**
     * Stops the heartbeat and removes this node's entry at once (best effort: Redis may be down), so that other
     * nodes stop sending it work, while its Redis connections stay open for what the stopping server still writes
     * (its sessions' and executions' ends). {@link #close} closes those too.
     */
    public void leave() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        ticker.shutdownNow();
        try {
            if (registered) {
                redis.remove(id);
            }
            claim.release(); // after the entry: the next start of this node takes its id at once
        } catch (JedisException e) {
            log.warn("cluster: node {} could not remove its entry ({}): it expires within {} ms", id, e.getMessage(),
                    settings.deadAfter().toMillis());
        }
    }

    /** {@link #leave}s the cluster, then closes the connections to Redis. */
    @Override
    public void close() {
        leave();
        redis.close();
    }
}
