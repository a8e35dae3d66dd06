package io.mcpsandbox.cluster;

import io.mcpsandbox.execution.Admission;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import redis.clients.jedis.RedisClient;
import redis.clients.jedis.exceptions.JedisException;

/**
 * {@code admission.max-per-user} across the cluster: each running or waiting execution of a user holds a member of
 * the sorted set {@code user:<user>}, scored with its lease's end in Redis's own clock (nodes' clocks may differ).
 * A take drops expired members and adds one only below the limit, in one script (atomic in Redis). The node renews
 * its members' leases at every heartbeat, so a node that dies frees its users' slots within one lease.
 *
 * <p>When Redis cannot be reached the limit is counted on this node alone (it says so once): admission keeps
 * working, and the cluster's count is back when Redis answers.
 */
public final class ClusterUserSlots implements Admission.UserSlots {
    private static final Logger log = LoggerFactory.getLogger(ClusterUserSlots.class);
    static final String PREFIX = ClusterRedis.PREFIX + "user:";
    private static final Pattern PLAIN_USER = Pattern.compile("[A-Za-z0-9._@-]{1,64}");

    /** Drops expired members; adds ARGV[3] with the lease's end if fewer than ARGV[1] remain; 1 if added. */
    private static final String TAKE = """
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
            if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
            redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
            redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
            return 1
            """;
    /** Moves the lease's end of each held member (KEYS[i], ARGV[i+1]) that is still there. */
    private static final String RENEW = """
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            local lease = tonumber(ARGV[1])
            for i = 1, #KEYS do
              redis.call('ZADD', KEYS[i], 'XX', now + lease, ARGV[i + 1])
              redis.call('PEXPIRE', KEYS[i], lease * 2)
            end
            return #KEYS
            """;

    private final RedisClient redis;
    private final String nodeId;
    private final Duration lease;
    private final AtomicLong counter = new AtomicLong();
    /** Member -> its key, for every slot this node holds now (what the heartbeat renews). */
    private final Map<String, String> held = new ConcurrentHashMap<>();
    private final AtomicBoolean outageSaid = new AtomicBoolean();

    ClusterUserSlots(RedisClient redis, String nodeId, Duration lease) {
        this.redis = redis;
        this.nodeId = nodeId;
        this.lease = lease;
    }

    /**
     * The slots of {@code node}'s cluster, with leases of the node's {@code cluster.dead-after}, renewed at each of
     * its heartbeats.
     */
    public static ClusterUserSlots of(ClusterNode node) {
        ClusterUserSlots slots = new ClusterUserSlots(node.redis().client(), node.id(), node.deadAfter());
        node.onHeartbeat(status -> slots.renew());
        return slots;
    }

    @Override
    public Admission.UserSlots.Slot take(String userId, int max) {
        String key = key(userId);
        String member = nodeId + ":" + counter.incrementAndGet();
        try {
            Object added = redis.eval(TAKE, List.of(key), List.of(Integer.toString(max),
                    Long.toString(lease.toMillis()), member));
            outageSaid.set(false);
            if (!(added instanceof Long n) || n != 1L) {
                return null;
            }
        } catch (JedisException e) {
            if (outageSaid.compareAndSet(false, true)) {
                log.warn("cluster: Redis cannot be reached ({}): admission.max-per-user is counted on this node alone "
                        + "until it answers", e.getMessage());
            }
            return () -> { };
        }
        held.put(member, key);
        AtomicBoolean released = new AtomicBoolean();
        return () -> {
            if (released.compareAndSet(false, true)) {
                held.remove(member);
                try {
                    redis.zrem(key, member);
                } catch (JedisException e) {
                    // its lease ends without renewal
                }
            }
        };
    }

    @Override
    public String where() {
        return "across the cluster's nodes";
    }

    /** How many slots this node holds now. */
    int held() {
        return held.size();
    }

    /** Moves the end of every held slot's lease (a heartbeat's job); an outage leaves them to expire. */
    void renew() {
        List<String> keys = new ArrayList<>();
        List<String> args = new ArrayList<>();
        args.add(Long.toString(lease.toMillis()));
        held.forEach((member, key) -> {
            keys.add(key);
            args.add(member);
        });
        if (keys.isEmpty()) {
            return;
        }
        try {
            redis.eval(RENEW, keys, args);
        } catch (JedisException e) {
            log.debug("cluster: could not renew admission slots: {}", e.getMessage());
        }
    }

    /** A user id as a key: as it is when plain, else a digest (a user id never shapes a key beyond its own). */
    static String key(String userId) {
        String user = userId == null ? "" : userId;
        if (PLAIN_USER.matcher(user).matches()) {
            return PREFIX + user;
        }
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(user.getBytes(StandardCharsets.UTF_8));
            return PREFIX + "sha256-" + HexFormat.of().formatHex(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
