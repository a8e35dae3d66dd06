package io.mcpsandbox.record;

import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.regex.Pattern;
import redis.clients.jedis.ConnectionPoolConfig;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.RedisClient;
import redis.clients.jedis.util.JedisURIHelper;

/** Redis URLs as configured: {@code redis://[[user]:password@]host[:port][/db]} or {@code rediss://...}. */
public final class RedisUrls {
    private static final Pattern SCHEME = Pattern.compile("^[a-zA-Z][a-zA-Z0-9+.-]*://");

    private RedisUrls() {
    }

    /**
     * The URL with any credentials replaced by {@code ***}, fit for logs and health output:
     * {@code redis://:secret@host:6379} becomes {@code redis://***@host:6379}.
     */
    public static String mask(String url) {
        if (url == null) {
            return null;
        }
        String trimmed = url.trim();
        int at = trimmed.lastIndexOf('@');
        var m = SCHEME.matcher(trimmed);
        if (m.find() && at >= m.end()) {
            // The last '@' ends the credentials, even a password with a raw '@' in it.
            return m.group() + "***@" + trimmed.substring(at + 1);
        }
        // Not a URL we understand: never show what may be a password before an '@'.
        return at >= 0 ? "***@" + trimmed.substring(at + 1) : trimmed;
    }

    /** Parses and checks a configured URL; the error never repeats the password. */
    public static URI parse(String url) {
        URI uri;
        try {
            uri = new URI(url.trim());
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("redis.url is not a URL (" + mask(url)
                    + "); expected redis://[:password@]host[:port][/db]");
        }
        String scheme = uri.getScheme();
        if (scheme == null || !(scheme.equals("redis") || scheme.equals("rediss")) || uri.getHost() == null) {
            throw new IllegalArgumentException("redis.url must look like redis://[:password@]host[:port][/db]; got "
                    + mask(url));
        }
        String path = uri.getPath();
        if (path != null && !path.isEmpty() && !path.equals("/") && !path.substring(1).matches("\\d+")) {
            throw new IllegalArgumentException("redis.url: the path must be a database number; got " + mask(url));
        }
        return uri;
    }

    /**
     * A pooled client for a parsed URL: one way for every Redis user here (records, the queue).
     *
     * @param timeout    connect, read and pool-wait timeout
     * @param poolSize   most connections at once
     * @param clientName what {@code CLIENT LIST} shows
     */
    // ssl(boolean): the SslOptions replacement needs key and trust stores we don't configure
    @SuppressWarnings("deprecation")
    public static RedisClient connect(URI uri, Duration timeout, int poolSize, String clientName) {
        int millis = (int) timeout.toMillis();
        DefaultJedisClientConfig.Builder config = DefaultJedisClientConfig.builder()
                .connectionTimeoutMillis(millis)
                .socketTimeoutMillis(millis)
                .clientName(clientName)
                .ssl(JedisURIHelper.isRedisSSLScheme(uri))
                .database(JedisURIHelper.getDBIndex(uri));
        String password = JedisURIHelper.getPassword(uri);
        if (password != null) {
            config.user(JedisURIHelper.getUser(uri)).password(password);
        }
        ConnectionPoolConfig poolConfig = new ConnectionPoolConfig();
        poolConfig.setMaxTotal(poolSize);
        poolConfig.setMaxIdle(poolSize);
        poolConfig.setMinIdle(0);
        poolConfig.setMaxWait(timeout);
        poolConfig.setBlockWhenExhausted(true);
        poolConfig.setJmxEnabled(false);
        return RedisClient.builder().hostAndPort(JedisURIHelper.getHostAndPort(uri)).clientConfig(config.build())
                .poolConfig(poolConfig).build();
    }
}
