package io.mcpsandbox.cluster;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.record.ExecutionStores;
import io.mcpsandbox.record.RedisUrls;
import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Cluster mode's settings (docs/cluster.md). {@link #toString()} masks the Redis password and never shows the
 * secret.
 *
 * @param redisUrl     {@code redis.url}, the one Redis every node shares
 * @param secret       {@code cluster.secret}
 * @param nodeId       {@code cluster.node-id}, or null: generated once and kept in the state directory
 * @param advertiseUrl {@code cluster.advertise-url}, or null: {@code http://<the --http host:port>}
 * @param heartbeat    {@code cluster.heartbeat}: how often a node refreshes its entry and reads its drain flag
 * @param deadAfter    {@code cluster.dead-after}: an entry not refreshed for this long has expired (the node is dead)
 */
public record ClusterSettings(String redisUrl, ClusterSecret secret, String nodeId, String advertiseUrl,
                              Duration heartbeat, Duration deadAfter) {
    public static final String SECRET = "cluster.secret";
    public static final String SECRET_ENV = Settings.envName(SECRET);
    public static final String NODE_ID = "cluster.node-id";
    public static final String ADVERTISE_URL = "cluster.advertise-url";
    public static final String HEARTBEAT = "cluster.heartbeat";
    public static final String DEAD_AFTER = "cluster.dead-after";
    static final Duration MIN_HEARTBEAT = Duration.ofMillis(100);
    static final Duration MAX_HEARTBEAT = Duration.ofMinutes(1);
    static final Duration MAX_DEAD_AFTER = Duration.ofHours(1);
    /** A node id: what a generated one looks like, and what a configured one may be. */
    static final Pattern NODE_ID_PATTERN = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,62}");
    static final int MAX_URL = 512;

    public ClusterSettings {
        if (nodeId != null && !NODE_ID_PATTERN.matcher(nodeId).matches()) {
            throw new IllegalArgumentException(NODE_ID + ": 1 to 63 letters, digits, '.', '_' or '-' (starting with a "
                    + "letter or digit); got '" + printable(nodeId) + "'");
        }
        if (advertiseUrl != null) {
            checkUrl(advertiseUrl);
        }
        if (heartbeat.compareTo(MIN_HEARTBEAT) < 0 || heartbeat.compareTo(MAX_HEARTBEAT) > 0) {
            throw new IllegalArgumentException(HEARTBEAT + ": between " + MIN_HEARTBEAT.toMillis() + "ms and "
                    + MAX_HEARTBEAT.toSeconds() + "s; got " + heartbeat.toMillis() + "ms");
        }
        if (deadAfter.compareTo(heartbeat.multipliedBy(2)) <= 0) {
            throw new IllegalArgumentException(DEAD_AFTER + ": must exceed twice " + HEARTBEAT + " ("
                    + heartbeat.multipliedBy(2).toMillis() + "ms), so one late heartbeat does not declare a node "
                    + "dead; got " + deadAfter.toMillis() + "ms");
        }
        if (deadAfter.compareTo(MAX_DEAD_AFTER) > 0) {
            throw new IllegalArgumentException(DEAD_AFTER + ": at most " + MAX_DEAD_AFTER.toMinutes() + "m; got "
                    + deadAfter.toSeconds() + "s");
        }
    }

    /**
     * The settings of {@code serve --cluster}, from configuration. Refuses with one message naming everything
     * missing ({@code --http}, {@code redis.url}, {@code cluster.secret}), or the first value that is wrong.
     *
     * @param httpGiven whether {@code --http} was given: other nodes (and later, routed calls) reach a node there
     */
    public static ClusterSettings forServe(Settings s, boolean httpGiven) {
        List<String> missing = new ArrayList<>();
        if (!httpGiven) {
            missing.add("--http HOST:PORT");
        }
        if (s.string(ExecutionStores.REDIS_URL, "").isBlank()) {
            missing.add(ExecutionStores.REDIS_URL + " (" + Settings.envName(ExecutionStores.REDIS_URL) + ")");
        }
        if (s.string(SECRET, "").isBlank()) {
            missing.add(SECRET + " (" + SECRET_ENV + ", at least " + ClusterSecret.MIN_LENGTH + " characters)");
        }
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("--cluster needs " + String.join(", ", missing));
        }
        return from(s);
    }

    /** The settings as configured; {@code redis.url} and {@code cluster.secret} must be set. */
    public static ClusterSettings from(Settings s) {
        String url = s.string(ExecutionStores.REDIS_URL, "").trim();
        if (url.isEmpty()) {
            throw new IllegalArgumentException(ExecutionStores.REDIS_URL + " ("
                    + Settings.envName(ExecutionStores.REDIS_URL) + ") is not set: the cluster lives in that Redis");
        }
        RedisUrls.parse(url);
        ClusterSecret secret = ClusterSecret.of(s.string(SECRET, ""));
        String nodeId = s.string(NODE_ID, "").trim();
        String advertise = s.string(ADVERTISE_URL, "").trim();
        return new ClusterSettings(url, secret, nodeId.isEmpty() ? null : nodeId,
                advertise.isEmpty() ? null : advertise, s.duration(HEARTBEAT, "2s"), s.duration(DEAD_AFTER, "10s"));
    }

    /** An http(s) URL with a host, and no credentials, query or fragment: what other nodes will call. */
    static void checkUrl(String url) {
        if (url.length() > MAX_URL) {
            throw new IllegalArgumentException(ADVERTISE_URL + ": at most " + MAX_URL + " characters");
        }
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException(ADVERTISE_URL + ": not a URL: '" + printable(url) + "'");
        }
        if (uri.getScheme() == null || !(uri.getScheme().equals("http") || uri.getScheme().equals("https"))
                || uri.getHost() == null || uri.getRawUserInfo() != null || uri.getRawQuery() != null
                || uri.getRawFragment() != null || (uri.getPath() != null && !uri.getPath().isEmpty()
                && !uri.getPath().equals("/"))) {
            throw new IllegalArgumentException(ADVERTISE_URL + ": expected http(s)://HOST:PORT with nothing after it; "
                    + "got '" + printable(url) + "'");
        }
    }

    static String printable(String text) {
        String cut = text.length() > 80 ? text.substring(0, 80) + "..." : text;
        return cut.replaceAll("[^\\x20-\\x7e]", "?");
    }

    @Override
    public String toString() {
        return "ClusterSettings[redisUrl=" + RedisUrls.mask(redisUrl) + ", secret=***, nodeId=" + nodeId
                + ", advertiseUrl=" + advertiseUrl + ", heartbeat=" + heartbeat + ", deadAfter=" + deadAfter + "]";
    }
}
