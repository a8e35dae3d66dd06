package io.mcpsandbox.cluster;

import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import redis.clients.jedis.RedisClient;

/**
 * Which process holds a node id: {@code holder:<id>} in Redis, whose value is {@code "<token> <beat> <url> <sig>"}
 * (an instance token this process drew at random, a count its every write raises, its address or {@code -} before
 * it serves, and the secret's signature of them), with a TTL of {@code cluster.dead-after}. Only the holder writes
 * the node's entry; every write is a compare-and-set in Redis (Lua), so of two processes that claim an id at the
 * same instant exactly one holds it.
 *
 * <p>Telling another live process from this node's previous run (killed with SIGKILL, its claim still in Redis):
 * a live holder rewrites its claim every heartbeat, a dead one never again. So a starting process that finds the
 * id held by another token watches the value: if it changes, a live process holds the id (the start is refused);
 * if it expires (or stays unchanged for dead-after, a value written without a TTL), its holder is dead and the
 * id is taken over. That costs a restart after a SIGKILL at most dead-after, the time the cluster takes anyway to
 * call that run dead. Comparing process identities (pid, start time, machine) instead would be quicker on one
 * host, but cannot tell anything about a holder on another host or in another PID namespace, so it is not used.
 * Values that do not parse or are not signed with the secret are not a holder: they are replaced.
 */
final class NodeClaim {
    private static final Logger log = LoggerFactory.getLogger(NodeClaim.class);

    /** Compare-and-set: ARGV[1] the value expected ("" for none), ARGV[2] the new one, ARGV[3] the TTL (ms). */
    private static final String CAS = """
            local cur = redis.call('GET', KEYS[1])
            if (ARGV[1] == '' and not cur) or (cur and cur == ARGV[1]) then
              redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
              return 1
            end
            return 0
            """;
    private static final int MAX_VALUE = ClusterRedis.MAX_FIELD * 2;
    /** Most compare-and-sets lost in a row while taking an id (something rewrites the key without end). */
    private static final int MAX_LOST = 100;

    /** The holder of an id as its claim says; {@code url} null before it serves. */
    record Holder(String token, String url) {
    }

    private final RedisClient redis;
    private final ClusterSecret secret;
    private final String id;
    private final String key;
    private final String token;
    private final Duration ttl;
    private final Clock clock;
    private long beats;
    /** What this process wrote last (null: it holds nothing). */
    private String mine;
    /** Another holder's value as first seen by a heartbeat, and when: unchanged for the TTL, it is stale. */
    private String otherSeen;
    private Instant otherSince;

    NodeClaim(RedisClient redis, ClusterSecret secret, String id, Duration ttl, Clock clock) {
        this.redis = redis;
        this.secret = secret;
        this.id = id;
        this.key = key(id);
        byte[] random = new byte[16];
        new SecureRandom().nextBytes(random);
        this.token = HexFormat.of().formatHex(random);
        this.ttl = ttl;
        this.clock = clock;
    }

    static String key(String id) {
        return ClusterRedis.PREFIX + "holder:" + id;
    }

    String token() {
        return token;
    }

    /**
     * Takes the id at a start: at once when no live process holds it; after its holder's claim has expired
     * (its process is dead); never while its holder still writes it.
     *
     * @param poll how often the holder's claim is read while it is watched
     * @throws ClusterJoinException a live process holds the id
     * @throws redis.clients.jedis.exceptions.JedisException Redis cannot be reached
     */
    synchronized void acquire(Duration poll) throws ClusterJoinException {
        String first = null;
        Instant watchedUntil = null;
        int lost = 0;
        while (true) {
            String found = redis.get(key);
            Holder h = parse(found);
            if (h == null || h.token().equals(token)) {
                if (cas(found, null)) {
                    if (found != null && h == null) {
                        log.warn("cluster: the claim of node id {} in Redis was not one a node of this cluster wrote: "
                                + "replaced", id);
                    }
                    return;
                }
            } else if (first == null) {
                first = found;
                watchedUntil = clock.instant().plus(ttl).plus(poll.multipliedBy(4));
                log.warn("cluster: node id {} is held in Redis by another process ({}): waiting up to {} ms to see "
                        + "whether it is alive or was a previous run of this node that stopped without leaving", id,
                        where(h), ttl.toMillis());
                sleep(poll);
                continue;
            } else if (!found.equals(first)) {
                throw refusal(h);
            } else if (!clock.instant().isBefore(watchedUntil)) {
                // Unchanged for longer than its TTL: written without one, by nothing alive.
                if (cas(found, null)) {
                    return;
                }
            } else {
                sleep(poll);
                continue;
            }
            if (++lost > MAX_LOST) {
                throw new ClusterJoinException("the claim of node id '" + id + "' in Redis changes all the time: "
                        + "another process keeps rewriting " + key + "; this node does not start");
            }
        }
    }

    /**
     * A heartbeat's refresh: writes this process's claim when it holds the id or nobody (alive) does.
     *
     * @return null when this process holds the id now; else the process that does
     */
    synchronized Holder refresh(String url) {
        String found = redis.get(key);
        Holder h = parse(found);
        if (h != null && !h.token().equals(token)) {
            Instant now = clock.instant();
            if (!found.equals(otherSeen)) {
                otherSeen = found;
                otherSince = now;
                mine = null;
                return h;
            }
            if (now.isBefore(otherSince.plus(ttl))) {
                mine = null;
                return h;
            }
        }
        if (cas(found, url)) {
            otherSeen = null;
            return null;
        }
        mine = null;
        Holder now = parse(redis.get(key));
        return now != null ? now : new Holder("", null);
    }

    /** A clean stop: the claim goes at once (if it is still this process's), so the next start takes the id. */
    synchronized void release() {
        if (mine != null) {
            redis.eval(ClusterRedis.DELETE_IF_EQUAL, List.of(key), List.of(mine));
            mine = null;
        }
    }

    private boolean cas(String expected, String url) {
        String value = value(url);
        Object done = redis.eval(CAS, List.of(key), List.of(expected == null ? "" : expected, value,
                Long.toString(ttl.toMillis())));
        if (done instanceof Long n && n == 1) {
            mine = value;
            return true;
        }
        return false;
    }

    private String value(String url) {
        String beat = Long.toString(++beats);
        String at = url == null ? "-" : url;
        return token + " " + beat + " " + at + " " + signature(beat, at);
    }

    private String signature(String token0, String beat, String at) {
        return secret.entrySignature(List.of("node id holder", id, token0, beat, at));
    }

    private String signature(String beat, String at) {
        return signature(token, beat, at);
    }

    /** A claim read from Redis (anything), or null when it is none a node of this cluster wrote. */
    Holder parse(String value) {
        if (value == null || value.length() > MAX_VALUE) {
            return null;
        }
        String[] f = value.split(" ", -1);
        if (f.length != 4 || !f[0].matches("[0-9a-f]{32}") || !f[1].matches("[0-9]{1,18}")) {
            return null;
        }
        String url = f[2].equals("-") ? null : ClusterRedis.url(f[2]);
        if (url == null && !f[2].equals("-")) {
            return null;
        }
        if (!ClusterSecret.matches(signature(f[0], f[1], f[2]), f[3])) {
            return null;
        }
        return new Holder(f[0], url);
    }

    private ClusterJoinException refusal(Holder h) {
        return new ClusterJoinException("node id '" + id + "' is in use by another live server (" + where(h)
                + "): it renewed its claim while this one waited. Two servers must not share a node id: give this "
                + "one another " + ClusterSettings.NODE_ID + " (" + io.mcpsandbox.config.Settings.envName(
                ClusterSettings.NODE_ID) + "), or its own state directory if the id was generated (a copied "
                + NodeIds.FILE_NAME + " file), or stop the other server first");
    }

    private String where(Holder h) {
        if (h.url() != null) {
            return "at " + h.url();
        }
        String seen = null;
        try {
            seen = ClusterRedis.url(redis.hget(ClusterRedis.SEEN, id));
        } catch (RuntimeException e) {
            // only a better message
        }
        return seen != null ? "starting; last seen at " + seen : "starting, no address advertised yet";
    }

    private static void sleep(Duration d) throws ClusterJoinException {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ClusterJoinException("interrupted while waiting to take the node id");
        }
    }
}
