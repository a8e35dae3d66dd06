package io.mcpsandbox.cluster;

import io.mcpsandbox.model.SessionCloseReason;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.record.ExecutionStore;
import io.mcpsandbox.session.SessionService;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import redis.clients.jedis.AbstractTransaction;
import redis.clients.jedis.RedisClient;
import redis.clients.jedis.exceptions.JedisException;
import redis.clients.jedis.params.SetParams;

/**
 * Sessions in a cluster (docs/cluster.md "Sessions in a cluster"): a session's sandbox lives on the node that opened
 * it, and the cluster finds it through Redis. Keys, under {@value ClusterRedis#PREFIX}:
 * <ul>
 * <li>{@code session:<id>}: the owner entry, {@code "<node id> <sig>"} ({@link ClusterSessionSigns}), written when
 *     the node opens the session (with a TTL past its hard lifetime) and removed when it closes;</li>
 * <li>{@code node-sessions:<node id>}: the ids of the sessions a node holds, what is closed when it is lost;</li>
 * <li>{@code reap-sessions:<node id>}: a lock ({@code SET NX EX 60}), so one node closes a lost node's sessions.</li>
 * </ul>
 * A session whose owner is listed dead (or no longer listed at all) is closed in the records as
 * {@link SessionCloseReason#NODE_LOST}: when a call for it arrives ({@link #locate}), and after each heartbeat for
 * every session of every dead node ({@link #sweep}). An owner entry that does not verify is never followed.
 */
public final class ClusterSessions implements SessionService.Directory, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ClusterSessions.class);
    /** How long one node holds a dead node's reaping to itself. */
    static final int REAP_LOCK_SECONDS = 60;
    /** An owner entry outlives its session's hard lifetime by this much (a node that died keeps none forever). */
    static final Duration OWNER_SLACK = Duration.ofMinutes(5);
    /** Most sessions of one dead node closed per sweep (a set made huge by someone cannot stall the sweeper). */
    static final int MAX_REAP = 10_000;

    private final ClusterNode node;
    private final RedisClient client;
    private final ClusterSessionSigns signs;
    private final ExecutionStore store;
    private final Clock clock;
    private final ExecutorService sweeper = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "cluster-session-sweep");
        t.setDaemon(true);
        return t;
    });
    private final AtomicBoolean sweeping = new AtomicBoolean();

    ClusterSessions(ClusterNode node, RedisClient client, ClusterSessionSigns signs, ExecutionStore store,
                    Clock clock) {
        this.node = node;
        this.client = client;
        this.signs = signs;
        this.store = store;
        this.clock = clock;
    }

    /**
     * Makes {@code sessions} find sessions through the cluster {@code node} is part of, and starts closing the
     * sessions of nodes that die (after each heartbeat). What a previous run of this node left in Redis is
     * forgotten first: this process holds none of it (its records were closed at start as {@code server_restart}).
     */
    public static ClusterSessions attach(ClusterNode node, SessionService sessions, ExecutionStore store,
                                         Clock clock) {
        ClusterSessions cluster = new ClusterSessions(node, node.redis().client(),
                new ClusterSessionSigns(node.redis().secret()), store, clock);
        cluster.forgetPreviousRun(sessions);
        sessions.useDirectory(cluster);
        node.onHeartbeat(cluster::afterHeartbeat);
        return cluster;
    }

    static String ownerKey(String sessionId) {
        return ClusterRedis.PREFIX + "session:" + sessionId;
    }

    static String nodeSessionsKey(String nodeId) {
        return ClusterRedis.PREFIX + "node-sessions:" + nodeId;
    }

    static String reapLockKey(String nodeId) {
        return ClusterRedis.PREFIX + "reap-sessions:" + nodeId;
    }

    private void forgetPreviousRun(SessionService sessions) {
        try {
            String mine = nodeSessionsKey(node.id());
            for (String id : client.srandmember(mine, MAX_REAP)) {
                if (ClusterSessionSigns.sessionId(id) && !sessions.holds(id)) {
                    dropOwner(id, node.id());
                }
            }
            client.del(mine);
        } catch (JedisException e) {
            log.warn("cluster: the sessions a previous run of node {} held could not be forgotten in Redis ({}): "
                    + "calls for them are answered from their records", node.id(), e.getMessage());
        }
    }

    @Override
    public void opened(SessionRecord record) {
        String id = record.sessionId();
        Duration left = Duration.between(clock.instant(), record.expiresAt());
        long ttl = Math.max(Duration.ofMinutes(1).toMillis(), left.plus(OWNER_SLACK).toMillis());
        try (AbstractTransaction t = client.multi()) {
            t.set(ownerKey(id), signs.owner(id, node.id()), SetParams.setParams().px(ttl));
            t.sadd(nodeSessionsKey(node.id()), id);
            t.exec();
        } catch (JedisException e) {
            log.warn("cluster: session {} is not registered in Redis ({}): only this node ({}) can serve it",
                    id, e.getMessage(), node.id());
        }
    }

    @Override
    public void closed(SessionRecord record) {
        try {
            dropOwner(record.sessionId(), node.id());
        } catch (RuntimeException e) { // Redis down, or its pool closed already (the node left first at a stop)
            log.info("cluster: session {} could not be unregistered in Redis ({}): its entry expires by itself",
                    record.sessionId(), e.getMessage());
        }
    }

    /** Removes the owner entry when it still names {@code owner}, and the id from that node's set. */
    private void dropOwner(String sessionId, String owner) {
        String key = ownerKey(sessionId);
        if (signs.ownerOf(sessionId, client.get(key)).filter(owner::equals).isPresent()) {
            client.del(key);
        }
        client.srem(nodeSessionsKey(owner), sessionId);
    }

    @Override
    public SessionService.Location locate(String sessionId) {
        if (!ClusterSessionSigns.sessionId(sessionId)) {
            return SessionService.Location.HERE;
        }
        String owner;
        try {
            owner = signs.ownerOf(sessionId, client.get(ownerKey(sessionId))).orElse(null);
        } catch (JedisException e) {
            return SessionService.Location.unavailable("the cluster's Redis cannot be reached (" + e.getMessage()
                    + ")");
        }
        if (owner == null || owner.equals(node.id())) {
            return SessionService.Location.HERE; // the records answer: unknown, or closed
        }
        Place place = place(owner, "holds the session");
        if (place.where() != null) {
            return place.where();
        }
        lost(sessionId, owner, place.lastSeen());
        return SessionService.Location.HERE;
    }

    @Override
    public SessionService.Location locateNode(String nodeId) {
        if (nodeId == null || nodeId.equals(node.id())) {
            return SessionService.Location.HERE;
        }
        if (!ClusterSettings.NODE_ID_PATTERN.matcher(nodeId).matches()) {
            return SessionService.Location.unavailable("its record names no valid cluster node");
        }
        Place place = place(nodeId, "runs it");
        return place.where() != null ? place.where() : SessionService.Location.unavailable("cluster node " + nodeId
                + ", which runs it, is lost; its executions end as an error (node lost)");
    }

    /** Where a node serves ({@code where}); null {@code where} when it is lost ({@code lastSeen}: its heartbeat). */
    private record Place(SessionService.Location where, Instant lastSeen) {
    }

    /**
     * Where {@code owner} serves: its URL when it is live (as of the last heartbeat, else as Redis says now),
     * unavailable when that cannot be known now or it has only not answered for a moment; lost (no location)
     * when it is listed dead past {@code cluster.dead-after}, or not listed at all.
     */
    private Place place(String owner, String what) {
        Optional<NodeView> seen = node.node(owner);
        if (seen.isPresent() && serving(seen.get())) {
            return new Place(SessionService.Location.remote(owner, seen.get().url()), null);
        }
        // Not live as of the last heartbeat: ask Redis now (the owner may have joined or come back since).
        Optional<NodeView> now;
        try {
            now = node.status().nodes().stream().filter(v -> v.id().equals(owner)).findFirst();
        } catch (JedisException e) {
            return new Place(SessionService.Location.unavailable("the cluster's Redis cannot be reached ("
                    + e.getMessage() + ")"), null);
        }
        if (now.isPresent() && serving(now.get())) {
            return new Place(SessionService.Location.remote(owner, now.get().url()), null);
        }
        if (now.isPresent() && now.get().state().equals(NodeView.INVALID)) {
            return new Place(SessionService.Location.unavailable("the entry of node " + owner + " in Redis is not "
                    + "signed with the cluster secret"), null);
        }
        if (now.isPresent() && !node.isLost(owner)) {
            // Listed dead for less than cluster.dead-after as this node saw it: after a Redis outage every node's
            // entry may be missing until its next heartbeat. Not lost yet. (Not listed at all: pruned, long dead.)
            return new Place(SessionService.Location.unavailable("node " + owner + ", which " + what
                    + ", has not answered the cluster for a moment; try again"), null);
        }
        return new Place(null, now.map(NodeView::heartbeatAt).orElse(null));
    }

    private static boolean serving(NodeView v) {
        return (v.state().equals(NodeView.ACTIVE) || v.state().equals(NodeView.DRAINING)) && v.url() != null;
    }

    /** Closes the session's record ({@code node_lost}) when it is still open, and forgets its owner entry. */
    private boolean lost(String sessionId, String owner, Instant lastSeen) {
        boolean closed = false;
        try {
            Optional<SessionRecord> record = store.findSession(sessionId);
            if (record.isPresent() && record.get().isOpen()) {
                store.saveSession(record.get().closed(SessionCloseReason.NODE_LOST, "node lost: cluster node " + owner
                        + ", which held its sandbox, stopped answering" + (lastSeen == null ? ""
                        : " (last heartbeat at " + lastSeen + ")"), clock.instant()));
                closed = true;
                log.warn("cluster: session {} closed: node {} that held it is lost", sessionId, owner);
            }
        } catch (RuntimeException e) {
            log.warn("cluster: session {} of lost node {}: its record could not be closed: {}", sessionId, owner,
                    e.getMessage());
            return false;
        }
        try {
            dropOwner(sessionId, owner);
        } catch (JedisException e) {
            log.debug("cluster: session {}: owner entry not removed: {}", sessionId, e.getMessage());
        }
        return closed;
    }

    @Override
    public String routedHeader(String method, String target) {
        return signs.routed(node.id(), clock.instant(), method, target);
    }

    @Override
    public boolean isRouted(String header, String method, String target) {
        return signs.isRouted(header, clock.instant(), method, target);
    }

    /** On the heartbeat thread: hands the sweep to this class's own thread, at most one at a time. */
    private void afterHeartbeat(ClusterStatus status) {
        if (node.lostNodes().isEmpty() || !sweeping.compareAndSet(false, true)) {
            return;
        }
        try {
            sweeper.execute(() -> {
                try {
                    sweep(status);
                } finally {
                    sweeping.set(false);
                }
            });
        } catch (RejectedExecutionException e) {
            sweeping.set(false); // closed
        }
    }

    /**
     * Closes the open sessions of every node {@code status} lists dead, one dead node at a time under its reap
     * lock (so one node of the cluster does it). Only sessions whose owner entry still names that node are closed.
     *
     * @return the ids closed
     */
    List<String> sweep(ClusterStatus status) {
        List<String> closed = new ArrayList<>();
        for (NodeView dead : status.nodes()) {
            if (!dead.state().equals(NodeView.DEAD) || dead.id().equals(node.id()) || !node.isLost(dead.id())) {
                continue;
            }
            try {
                String set = nodeSessionsKey(dead.id());
                if (!client.exists(set)) {
                    continue;
                }
                String taken = client.set(reapLockKey(dead.id()), node.id(),
                        SetParams.setParams().nx().ex(REAP_LOCK_SECONDS));
                if (!"OK".equals(taken)) {
                    continue;
                }
                for (String id : client.srandmember(set, MAX_REAP)) {
                    if (!ClusterSessionSigns.sessionId(id)) {
                        client.srem(set, id);
                        continue;
                    }
                    boolean owned = signs.ownerOf(id, client.get(ownerKey(id))).filter(dead.id()::equals).isPresent();
                    if (!owned) {
                        client.srem(set, id); // closed meanwhile, or an entry not signed for that node
                    } else if (lost(id, dead.id(), dead.heartbeatAt())) {
                        closed.add(id);
                    }
                }
            } catch (JedisException e) {
                log.warn("cluster: the sessions of dead node {} could not be closed now ({}); next heartbeat",
                        dead.id(), e.getMessage());
                return closed;
            }
        }
        if (!closed.isEmpty()) {
            log.warn("cluster: closed {} session(s) of lost node(s) as node_lost: {}", closed.size(), closed);
        }
        return closed;
    }

    @Override
    public void close() {
        sweeper.shutdownNow();
    }
}
