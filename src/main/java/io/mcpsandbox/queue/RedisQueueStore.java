package io.mcpsandbox.queue;

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

    private final RedisClient client;
    private final String prefix;
    private final String index;
    private final String maskedUrl;

    /**
     * @param url     the records' Redis URL
     * @param queueId this queue's id (letters, digits, dashes)
     */
    public RedisQueueStore(String url, String queueId, Duration timeout, int poolSize) {
        if (!queueId.matches("[A-Za-z0-9-]{1,64}")) {
            throw new IllegalArgumentException("queue id must be letters, digits and dashes; got '" + queueId + "'");
        }
        this.client = RedisUrls.connect(RedisUrls.parse(url), timeout, poolSize, "mcp-sandbox-queue");
        this.maskedUrl = RedisUrls.mask(url);
        this.prefix = "mcp-sandbox:queue:" + queueId + ":";
        this.index = prefix + "items";
    }

    private String key(String executionId) {
        return prefix + "item:" + executionId;
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
        try {
            List<String> ids = client.zrange(index, 0, -1);
            List<Response<List<String>>> fields = new ArrayList<>(ids.size());
            List<Response<Long>> sizes = new ArrayList<>(ids.size());
            try (AbstractPipeline p = client.pipelined()) {
                for (String id : ids) {
                    fields.add(p.hmget(key(id), USER, PRIORITY, SEQUENCE, QUEUED_MS));
                    sizes.add(p.hstrlen(key(id), "request"));
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
