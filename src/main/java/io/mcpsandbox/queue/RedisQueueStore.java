package io.mcpsandbox.queue;

import io.mcpsandbox.callback.CallbackOutbox;
import io.mcpsandbox.callback.PendingCallback;
import io.mcpsandbox.record.ExecutionStoreException;
import io.mcpsandbox.record.RedisUrls;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import redis.clients.jedis.AbstractPipeline;
import redis.clients.jedis.AbstractTransaction;
import redis.clients.jedis.RedisClient;
import redis.clients.jedis.Response;
import redis.clients.jedis.exceptions.JedisException;

/**
 * The queue in Redis, when records go there: a sorted set of waiting ids (scored by acceptance order) and one
 * hash per item, without a TTL (an item waits until it runs or is cancelled). Keys carry the queue's id (one
 * per data directory, see {@link QueueStores}), so servers sharing a Redis keep separate queues, each resumed by
 * the server that owns it.
 */
public final class RedisQueueStore implements QueueStore {
    private static final String USER = "user";
    private static final String PRIORITY = "priority";
    private static final String SEQUENCE = "sequence";
    private static final String QUEUED_MS = "queuedMs";
    private static final byte[] REQUEST = "request".getBytes(StandardCharsets.UTF_8);
    private static final String PREFIX = "mcp-sandbox:queue:";
    /**
     * Moves one item from another queue into this one, in one step: nothing while the guard key exists (the other
     * queue's server is alive again), nothing when the item is gone. KEYS: guard, their item, their index, my item,
     * my index; ARGV: the execution id, its sequence here. Returns -1 (guarded), 0 (gone) or the moved item's
     * user, priority, queued-at and request size.
     */
    private static final String MOVE = """
            if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
            if redis.call('EXISTS', KEYS[2]) == 0 then
              redis.call('ZREM', KEYS[3], ARGV[1])
              return 0
            end
            redis.call('HSET', KEYS[4], unpack(redis.call('HGETALL', KEYS[2])))
            redis.call('HSET', KEYS[4], 'sequence', ARGV[2])
            redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
            redis.call('DEL', KEYS[2])
            redis.call('ZREM', KEYS[3], ARGV[1])
            local f = redis.call('HMGET', KEYS[4], 'user', 'priority', 'queuedMs')
            return {f[1], f[2], f[3], tostring(redis.call('HSTRLEN', KEYS[4], 'request'))}
            """;

    private final RedisClient client;
    private final String queueId;
    private final String prefix;
    private final String index;
    private final String callbackKey;
    private final String maskedUrl;

    /**
     * @param url     the records' Redis URL
     * @param queueId this queue's id (letters, digits, dashes)
     */
    public RedisQueueStore(String url, String queueId, Duration timeout, int poolSize) {
        checkedId(queueId);
        this.client = RedisUrls.connect(RedisUrls.parse(url), timeout, poolSize, "mcp-sandbox-queue");
        this.maskedUrl = RedisUrls.mask(url);
        this.queueId = queueId;
        this.prefix = PREFIX + queueId + ":";
        this.index = prefix + "items";
        this.callbackKey = prefix + "callbacks";
    }

    private String key(String executionId) {
        return key(prefix, executionId);
    }

    private static String key(String prefix, String executionId) {
        return prefix + "item:" + executionId;
    }

    /** The key of an item waiting in queue {@code queueId} (for a cluster node looking for the queue that holds it). */
    public static String itemKey(String queueId, String executionId) {
        return key(PREFIX + checkedId(queueId) + ":", executionId);
    }

    /** This queue's id: the key's part that sets it apart from other servers' queues in the same Redis. */
    public String queueId() {
        return queueId;
    }

    @Override
    public void add(List<Entry> entries) {
        try (AbstractTransaction t = client.multi()) {
            for (Entry e : entries) {
                QueuedItem i = e.item();
                String key = key(i.executionId());
                t.hset(key, Map.of(USER, i.userId(), PRIORITY, Integer.toString(i.priority()),
                        SEQUENCE, Long.toString(i.sequence()), QUEUED_MS, Long.toString(i.queuedAt().toEpochMilli())));
                t.hset(key.getBytes(StandardCharsets.UTF_8), REQUEST, e.request());
                t.zadd(index, i.sequence(), i.executionId());
            }
            t.exec();
        } catch (JedisException e) {
            throw failure("add " + entries.size() + " queued executions", e);
        }
    }

    @Override
    public List<QueuedItem> items() {
        return itemsUnder(prefix);
    }

    /** The items waiting in another server's queue in this Redis (see {@link #moveFrom}). */
    public List<QueuedItem> itemsOf(String otherQueueId) {
        return itemsUnder(PREFIX + checkedId(otherQueueId) + ":");
    }

    private List<QueuedItem> itemsUnder(String prefix) {
        try {
            List<String> ids = client.zrange(prefix + "items", 0, -1);
            List<Response<List<String>>> fields = new ArrayList<>(ids.size());
            List<Response<Long>> sizes = new ArrayList<>(ids.size());
            try (AbstractPipeline p = client.pipelined()) {
                for (String id : ids) {
                    fields.add(p.hmget(key(prefix, id), USER, PRIORITY, SEQUENCE, QUEUED_MS));
                    sizes.add(p.hstrlen(key(prefix, id), "request"));
                }
                p.sync();
            }
            List<QueuedItem> items = new ArrayList<>(ids.size());
            for (int n = 0; n < ids.size(); n++) {
                List<String> f = fields.get(n).get();
                if (f.get(0) == null || f.get(2) == null) {
                    continue; // removed between the two reads
                }
                items.add(new QueuedItem(ids.get(n), f.get(0), Integer.parseInt(f.get(1)), Long.parseLong(f.get(2)),
                        Instant.ofEpochMilli(Long.parseLong(f.get(3))), sizes.get(n).get()));
            }
            return items;
        } catch (JedisException e) {
            throw failure("list the queue", e);
        } catch (NumberFormatException e) {
            throw new ExecutionStoreException("the queue in Redis at " + maskedUrl + " holds a malformed item: "
                    + e.getMessage(), e);
        }
    }

    private static String checkedId(String queueId) {
        if (!queueId.matches("[A-Za-z0-9-]{1,64}")) {
            throw new IllegalArgumentException("queue id must be letters, digits and dashes; got '" + queueId + "'");
        }
        return queueId;
    }

    /**
     * What {@link #moveFrom} did: {@code item} is the moved item as it now waits here (null if nothing moved);
     * {@code guarded}: nothing moved because the guard key exists.
     */
    public record Move(QueuedItem item, boolean guarded) {
    }

    /**
     * Moves a waiting item of another server's queue (a lost cluster node's) into this one with {@code sequence},
     * atomically and only while {@code guardKey} does not exist: the other server takes that key before it reads its
     * queue, so an item is either still there when it does or already here, never both.
     */
    public Move moveFrom(String otherQueueId, String executionId, long sequence, String guardKey) {
        String theirs = PREFIX + checkedId(otherQueueId) + ":";
        try {
            Object r = client.eval(MOVE, List.of(guardKey, key(theirs, executionId), theirs + "items",
                    key(executionId), index), List.of(executionId, Long.toString(sequence)));
            if (r instanceof Long code) {
                return new Move(null, code < 0);
            }
            List<?> f = (List<?>) r;
            if (f.size() != 4 || f.get(0) == null || f.get(2) == null) {
                throw new ExecutionStoreException("the queue in Redis at " + maskedUrl + " moved a malformed item "
                        + executionId + " from queue " + otherQueueId);
            }
            return new Move(new QueuedItem(executionId, (String) f.get(0), Integer.parseInt((String) f.get(1)),
                    sequence, Instant.ofEpochMilli(Long.parseLong((String) f.get(2))),
                    Long.parseLong((String) f.get(3))), false);
        } catch (JedisException e) {
            throw failure("take over a queued execution", e);
        } catch (NumberFormatException | ClassCastException e) {
            throw new ExecutionStoreException("the queue in Redis at " + maskedUrl + " moved a malformed item "
                    + executionId + ": " + e.getMessage(), e);
        }
    }

    @Override
    public Optional<byte[]> request(String executionId) {
        try {
            return Optional.ofNullable(client.hget(key(executionId).getBytes(StandardCharsets.UTF_8), REQUEST));
        } catch (JedisException e) {
            throw failure("read a queued request", e);
        }
    }

    @Override
    public void remove(String executionId) {
        try (AbstractTransaction t = client.multi()) {
            t.del(key(executionId));
            t.zrem(index, executionId);
            t.exec();
        } catch (JedisException e) {
            throw failure("remove a queued execution", e);
        }
    }

    @Override
    public CallbackOutbox callbacks() {
        return outbox;
    }

    /** One hash: execution id to "attempts nextAttemptMillis url" (a checked URL holds no space). */
    private final CallbackOutbox outbox = new CallbackOutbox() {
        @Override
        public void save(PendingCallback p) {
            try {
                client.hset(callbackKey, p.executionId(), p.attempts() + " " + p.nextAttemptAt().toEpochMilli() + " "
                        + p.url());
            } catch (JedisException e) {
                throw failure("save a pending callback", e);
            }
        }

        @Override
        public void remove(String executionId) {
            try {
                client.hdel(callbackKey, executionId);
            } catch (JedisException e) {
                throw failure("forget a callback", e);
            }
        }

        @Override
        public List<PendingCallback> pending() {
            try {
                List<PendingCallback> all = new ArrayList<>();
                for (Map.Entry<String, String> e : client.hgetAll(callbackKey).entrySet()) {
                    String[] f = e.getValue().split(" ", 3);
                    if (f.length == 3) {
                        all.add(new PendingCallback(e.getKey(), f[2], Integer.parseInt(f[0]),
                                Instant.ofEpochMilli(Long.parseLong(f[1]))));
                    }
                }
                return all;
            } catch (JedisException e) {
                throw failure("list pending callbacks", e);
            } catch (NumberFormatException e) {
                throw new ExecutionStoreException("the queue in Redis at " + maskedUrl + " holds a malformed "
                        + "callback: " + e.getMessage(), e);
            }
        }
    };

    @Override
    public String describe() {
        return "Redis at " + maskedUrl + " (keys " + prefix + "*)";
    }

    private ExecutionStoreException failure(String what, JedisException e) {
        return new ExecutionStoreException("the queue in Redis at " + maskedUrl + " cannot " + what + ": "
                + e.getMessage(), e);
    }

    @Override
    public void close() {
        client.close();
    }
}
