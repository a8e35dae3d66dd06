package io.mcpsandbox.cluster;

import io.mcpsandbox.record.RedisUrls;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import redis.clients.jedis.AbstractPipeline;
import redis.clients.jedis.AbstractTransaction;
import redis.clients.jedis.RedisClient;
import redis.clients.jedis.Response;
import redis.clients.jedis.params.SetParams;
import redis.clients.jedis.resps.Tuple;

/**
 * The cluster's keys in Redis, all under {@value #PREFIX}:
 * <ul>
 * <li>{@code meta}: {@code "<protocol> <join proof>"}, set once by the first node (SET NX) and compared by every
 *     other one (and by the CLI) before it does anything;</li>
 * <li>{@code node:<id>}: a hash of what the node reports, refreshed every heartbeat with a TTL of
 *     {@code cluster.dead-after}: when it has expired the node is dead;</li>
 * <li>{@code nodes}: a sorted set of node ids by last heartbeat (ms), and {@code seen}: a hash of each node's last
 *     address, so a dead node is still listed (for an hour, then pruned);</li>
 * <li>{@code drain:<id>}: the drain flag, whose value is the secret's drain proof for that id (a flag without it
 *     is ignored).</li>
 * </ul>
 * Redis is shared: whatever is read back is parsed with bounds, and an entry that does not parse is listed as
 * {@code invalid}, never trusted.
 */
public final class ClusterRedis implements AutoCloseable {
    public static final String PREFIX = "mcp-sandbox:cluster:";
    /** Bumped when nodes of two versions could not share a cluster; a node never joins a cluster of another. */
    public static final int PROTOCOL = 1;
    /** How long a dead node stays listed before status prunes it. */
    public static final Duration KEEP_DEAD = Duration.ofHours(1);
    /** Most nodes one listing reads: a huge index (garbage) cannot make status unbounded. */
    static final int MAX_NODES = 1000;
    static final int MAX_FIELD = 512;
    static final int MAX_LIST = 64;
    /** Deletes KEYS[1] only while its value is ARGV[1] (a claim released by its holder only); 1 if deleted. */
    static final String DELETE_IF_EQUAL = """
            if redis.call('GET', KEYS[1]) == ARGV[1] then
              return redis.call('DEL', KEYS[1])
            end
            return 0
            """;
    static final String META = PREFIX + "meta";
    static final String INDEX = PREFIX + "nodes";
    static final String SEEN = PREFIX + "seen";
    private static final String[] FIELDS = {"id", "url", "version", "protocol", "runtimes", "images", "maxInFlight",
        "active", "poolReady", "state", "joinedAt", "heartbeatAt", "sig"};
    /** The signed fields: all but {@code sig}. */
    private static final int SIGNED = FIELDS.length - 1;

    private final RedisClient client;
    private final String maskedUrl;
    private final ClusterSecret secret;
    private final Clock clock;

    public ClusterRedis(String url, ClusterSecret secret, Duration timeout, Clock clock) {
        this.client = RedisUrls.connect(RedisUrls.parse(url), timeout, 4, "mcp-sandbox-cluster");
        this.maskedUrl = RedisUrls.mask(url);
        this.secret = secret;
        this.clock = clock;
    }

    static String nodeKey(String id) {
        return PREFIX + "node:" + id;
    }

    static String drainKey(String id) {
        return PREFIX + "drain:" + id;
    }

    /** The connection pool, for the cluster's other keys (work, sessions); this class keeps membership's. */
    RedisClient client() {
        return client;
    }

    ClusterSecret secret() {
        return secret;
    }

    public String maskedUrl() {
        return maskedUrl;
    }

    /**
     * Checks that the cluster in Redis is one this secret and protocol may join, creating it (SET NX) when there is
     * none yet.
     *
     * @throws ClusterJoinException another protocol, another secret, or an unreadable meta key
     * @throws redis.clients.jedis.exceptions.JedisException Redis cannot be reached
     */
    public void checkJoin() throws ClusterJoinException {
        String mine = PROTOCOL + " " + secret.joinProof();
        String found = client.get(META);
        if (found == null) {
            client.set(META, mine, SetParams.setParams().nx());
            found = client.get(META); // another node may have been first
        }
        if (found == null) {
            throw new ClusterJoinException("the cluster's key " + META + " in Redis at " + maskedUrl + " vanished "
                    + "while this node joined; try again");
        }
        String[] f = found.length() > MAX_FIELD ? new String[0] : found.split(" ", -1);
        int protocol = f.length == 2 ? number(f[0]) : -1;
        if (protocol < 1) {
            throw new ClusterJoinException("the cluster's key " + META + " in Redis at " + maskedUrl + " holds "
                    + "something that is not an mcp-sandbox cluster's: this node will not join it (delete the key "
                    + "only if no node of this cluster runs)");
        }
        if (protocol != PROTOCOL) {
            throw new ClusterJoinException("the cluster in Redis at " + maskedUrl + " speaks cluster protocol "
                    + protocol + " and this node speaks " + PROTOCOL + ": nodes of both cannot share one cluster; "
                    + "run one version everywhere (docs/cluster.md, Upgrading)");
        }
        if (!ClusterSecret.matches(secret.joinProof(), f[1])) {
            throw new ClusterJoinException("the cluster in Redis at " + maskedUrl + " was formed with another "
                    + ClusterSettings.SECRET + ": this node's secret does not match its join proof; give every node "
                    + "and the CLI the same " + ClusterSettings.SECRET_ENV);
        }
    }

    /** One heartbeat's write: the node's hash (with its TTL), its place in the index, its last address. */
    void heartbeat(String id, String url, String version, NodeReport report, boolean draining, Instant joinedAt,
                   Duration ttl) {
        Instant now = clock.instant();
        Map<String, String> fields = new LinkedHashMap<>();
        fields.put("id", id);
        fields.put("url", url);
        fields.put("version", version);
        fields.put("protocol", Integer.toString(PROTOCOL));
        fields.put("runtimes", String.join(",", report.runtimes()));
        fields.put("images", String.join(",", report.images()));
        fields.put("maxInFlight", Integer.toString(report.maxInFlight()));
        fields.put("active", Integer.toString(report.active()));
        fields.put("poolReady", Integer.toString(report.poolReady()));
        fields.put("state", draining ? NodeView.DRAINING : NodeView.ACTIVE);
        fields.put("joinedAt", Long.toString(joinedAt.toEpochMilli()));
        fields.put("heartbeatAt", Long.toString(now.toEpochMilli()));
        fields.put("sig", secret.entrySignature(List.copyOf(fields.values())));
        try (AbstractTransaction t = client.multi()) {
            t.hset(nodeKey(id), fields);
            t.pexpire(nodeKey(id), ttl.toMillis());
            t.zadd(INDEX, now.toEpochMilli(), id);
            t.hset(SEEN, id, url);
            t.exec();
        }
    }

    /** Whether the node's drain flag is set with the secret's proof; a flag without it is not obeyed. */
    boolean drainFlagged(String id) {
        return ClusterSecret.matches(secret.drainProof(id), client.get(drainKey(id)));
    }

    /** Whether a flag is there at all (one without a valid proof is reported, not obeyed). */
    boolean drainKeyExists(String id) {
        return client.exists(drainKey(id));
    }

    /** A clean stop: the node leaves the listing at once (its drain flag stays for its next start). */
    void remove(String id) {
        try (AbstractTransaction t = client.multi()) {
            t.del(nodeKey(id));
            t.zrem(INDEX, id);
            t.hdel(SEEN, id);
            t.exec();
        }
    }

    /**
     * Sets or clears a node's drain flag. False: no such node is listed (alive or dead) and, for a clear, no flag
     * was set either (a node stopped cleanly while drained keeps its flag and leaves the listing).
     */
    public boolean setDrain(String id, boolean drain) {
        if (!ClusterSettings.NODE_ID_PATTERN.matcher(id).matches()) {
            return false;
        }
        if (client.zscore(INDEX, id) == null) {
            return !drain && client.del(drainKey(id)) > 0;
        }
        if (drain) {
            client.set(drainKey(id), secret.drainProof(id));
        } else {
            client.del(drainKey(id));
        }
        return true;
    }

    /** Every node, read now; dead ones last seen over {@link #KEEP_DEAD} ago are pruned. */
    public ClusterStatus status() {
        Instant now = clock.instant();
        List<Tuple> index = client.zrangeWithScores(INDEX, -MAX_NODES, -1); // the most recent heartbeats
        List<String> ids = new ArrayList<>();
        List<Double> scores = new ArrayList<>();
        List<String> garbage = new ArrayList<>();
        for (Tuple t : index) {
            String id = t.getElement();
            if (id != null && ClusterSettings.NODE_ID_PATTERN.matcher(id).matches()) {
                ids.add(id);
                scores.add(t.getScore());
            } else if (id != null && id.length() <= MAX_FIELD) {
                garbage.add(id);
            }
        }
        List<Response<List<String>>> hashes = new ArrayList<>(ids.size());
        Response<List<String>> seen;
        try (AbstractPipeline p = client.pipelined()) {
            for (String id : ids) {
                hashes.add(p.hmget(nodeKey(id), FIELDS));
            }
            seen = ids.isEmpty() ? null : p.hmget(SEEN, ids.toArray(String[]::new));
            p.sync();
        }
        List<NodeView> live = new ArrayList<>();
        List<NodeView> dead = new ArrayList<>();
        List<String> prune = new ArrayList<>();
        for (int n = 0; n < ids.size(); n++) {
            String id = ids.get(n);
            List<String> h = hashes.get(n).get();
            if (h.stream().allMatch(v -> v == null)) {
                Instant lastSeen = Instant.ofEpochMilli(Double.isFinite(scores.get(n)) ? (long) (double) scores.get(n)
                        : 0);
                if (lastSeen.isBefore(now.minus(KEEP_DEAD))) {
                    prune.add(id);
                } else {
                    dead.add(new NodeView(id, url(seen.get().get(n)), NodeView.DEAD, null, List.of(), List.of(),
                            new NodeView.Capacity(-1, -1, -1), null, lastSeen));
                }
            } else {
                boolean signed = ClusterSecret.matches(secret.entrySignature(h.subList(0, SIGNED)), h.get(SIGNED));
                live.add(parse(id, h, signed));
            }
        }
        if (!prune.isEmpty() || !garbage.isEmpty()) {
            try (AbstractTransaction t = client.multi()) {
                for (String id : prune) {
                    t.zrem(INDEX, id);
                    t.hdel(SEEN, id);
                    t.del(drainKey(id));
                }
                if (!garbage.isEmpty()) {
                    t.zrem(INDEX, garbage.toArray(String[]::new));
                }
                t.exec();
            }
        }
        live.sort(Comparator.comparing(NodeView::id));
        dead.sort(Comparator.comparing(NodeView::heartbeatAt).reversed());
        List<NodeView> all = new ArrayList<>(live);
        all.addAll(dead);
        int active = (int) live.stream().filter(v -> v.state().equals(NodeView.ACTIVE)).count();
        int draining = (int) live.stream().filter(v -> v.state().equals(NodeView.DRAINING)).count();
        return new ClusterStatus(PROTOCOL, now, new ClusterStatus.Counts(active, draining, dead.size()), all);
    }

    /**
     * A live node's hash, field by field with bounds: anything unreadable, or an entry not signed with the secret,
     * makes it {@code invalid} (listed, never trusted).
     */
    static NodeView parse(String id, List<String> h, boolean signed) {
        String url = url(h.get(1));
        String state = h.get(9);
        int protocol = number(h.get(3));
        long heartbeat = millis(h.get(11));
        boolean valid = signed && id.equals(h.get(0)) && url != null && protocol >= 1 && heartbeat >= 0
                && (NodeView.ACTIVE.equals(state) || NodeView.DRAINING.equals(state));
        long joined = millis(h.get(10));
        return new NodeView(id, url, valid ? state : NodeView.INVALID, text(h.get(2)), list(h.get(4)), list(h.get(5)),
                new NodeView.Capacity(number(h.get(6)), number(h.get(7)), number(h.get(8))),
                joined < 0 ? null : Instant.ofEpochMilli(joined),
                heartbeat < 0 ? null : Instant.ofEpochMilli(heartbeat));
    }

    /** A URL as a node advertised it, or null when it is not one a node could have written. */
    static String url(String value) {
        if (value == null) {
            return null;
        }
        try {
            ClusterSettings.checkUrl(value);
            return value;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** Printable ASCII of bounded length, or null. */
    static String text(String value) {
        if (value == null || value.length() > MAX_FIELD || !value.matches("[\\x20-\\x7e]*")) {
            return null;
        }
        return value;
    }

    /** A comma-separated list of names (runtimes, images): bounded, each a plain name; what is not is left out. */
    static List<String> list(String value) {
        if (value == null || value.isEmpty() || value.length() > MAX_FIELD * 16) {
            return List.of();
        }
        return Arrays.stream(value.split(",", MAX_LIST + 1)).limit(MAX_LIST)
                .filter(s -> s.length() <= 255 && s.matches("[A-Za-z0-9][A-Za-z0-9._:/@+-]*"))
                .toList();
    }

    /** A non-negative int of at most 9 digits, or -1. */
    static int number(String value) {
        if (value == null || !value.matches("[0-9]{1,9}")) {
            return -1;
        }
        return Integer.parseInt(value);
    }

    /** Epoch milliseconds, non-negative, at most 15 digits; or -1. */
    static long millis(String value) {
        if (value == null || !value.matches("[0-9]{1,15}")) {
            return -1;
        }
        return Long.parseLong(value);
    }

    @Override
    public void close() {
        client.close();
    }
}
