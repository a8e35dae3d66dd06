package io.mcpsandbox.config;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * How {@code serve} runs: who may call it (API keys), which browser origins and Host headers it accepts,
 * how large a request body may be, and how many executions it admits at once.
 *
 * @param allowedHosts  Host header patterns; empty means "derive from the bind address" (loopback binds
 *                      accept only loopback names, which defeats DNS rebinding)
 * @param maxRequestBytes largest request body on /mcp and /v1
 * @param idleTimeout   how long a connection may stay silent (e.g. a body that stops arriving) before it is
 *                      answered with an error and closed
 */
public record ServerConfig(List<ApiKey> apiKeys, List<String> allowedOrigins, List<String> allowedHosts,
                           long maxRequestBytes, AdmissionLimits admission, Duration idleTimeout) {

    public static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofSeconds(30);

    /** Tokens shorter than this are refused at startup: a short key can be guessed. */
    public static final int MIN_KEY_LENGTH = 16;
    public static final List<String> LOOPBACK_ORIGINS =
            List.of("http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*");

    private static final Pattern USER_ID = Pattern.compile("[A-Za-z0-9._@+-]{1,128}");

    public ServerConfig(List<ApiKey> apiKeys, List<String> allowedOrigins, List<String> allowedHosts,
                        long maxRequestBytes, AdmissionLimits admission) {
        this(apiKeys, allowedOrigins, allowedHosts, maxRequestBytes, admission, DEFAULT_IDLE_TIMEOUT);
    }

    public ServerConfig {
        if (idleTimeout.isNegative() || idleTimeout.isZero()) {
            throw new IllegalArgumentException("server.idle-timeout: must be positive; got " + idleTimeout);
        }
        apiKeys = List.copyOf(apiKeys);
        allowedOrigins = List.copyOf(allowedOrigins);
        allowedHosts = List.copyOf(allowedHosts);
    }

    /**
     * An API key and the user it authenticates. {@link #toString()} never shows the token.
     *
     * @param admin an admin key ({@code TOKEN:USER:admin}) sees every user's queue
     */
    public record ApiKey(String token, String userId, boolean admin) {
        public ApiKey(String token, String userId) {
            this(token, userId, false);
        }

        @Override
        public String toString() {
            return "ApiKey[token=<redacted>, userId=" + userId + (admin ? ", admin" : "") + "]";
        }
    }

    /**
     * @param maxConcurrent executions running at once, all users together
     * @param maxPerUser    executions one user may have running or queued
     * @param queueSize     executions that may wait for a free slot; beyond it requests are refused
     * @param queueTimeout  how long one may wait in the queue before it is refused
     */
    public record AdmissionLimits(int maxConcurrent, int maxPerUser, int queueSize, Duration queueTimeout) {
        public AdmissionLimits {
            if (maxConcurrent < 1 || maxPerUser < 1 || queueSize < 0 || queueTimeout.isNegative()) {
                throw new IllegalArgumentException("admission limits must be positive: " + maxConcurrent + ", "
                        + maxPerUser + ", " + queueSize + ", " + queueTimeout);
            }
        }
    }

    /** Reads the server keys; defaults for admission are sized from this machine's cores and memory. */
    public static ServerConfig load(Settings s, SandboxConfig sandbox) {
        AdmissionLimits defaults = machineDefaults(Runtime.getRuntime().availableProcessors(), totalMemoryBytes(),
                sandbox.defaultLimits().memoryBytes());
        AdmissionLimits admission = new AdmissionLimits(
                positive(s, "admission.max-concurrent", defaults.maxConcurrent()),
                positive(s, "admission.max-per-user", defaults.maxPerUser()),
                s.integer("admission.queue-size", Integer.toString(defaults.queueSize())),
                s.duration("admission.queue-timeout", defaults.queueTimeout().toMillis() + "ms"));
        long maxBody = s.bytes("server.max-request-bytes", "16m");
        if (maxBody < 1024 || maxBody > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("server.max-request-bytes: must be between 1k and 2g; got " + maxBody);
        }
        return new ServerConfig(parseKeys(s.string("api.keys", "")),
                list(s.string("server.allowed-origins", String.join(",", LOOPBACK_ORIGINS))),
                list(s.string("server.allowed-hosts", "")), maxBody, admission,
                s.duration("server.idle-timeout", DEFAULT_IDLE_TIMEOUT.toMillis() + "ms"));
    }

    /** Executions running at once on any machine that has the memory for them (see machineDefaults). */
    static final int MIN_DEFAULT_CONCURRENT = 8;

    /**
     * Sandboxes mostly wait (on the program, on the runtime binary, on I/O), so several per core are fine: 4
     * per core and at least {@value #MIN_DEFAULT_CONCURRENT}, so that a 2-core machine serves 8 clients at
     * once; at most 256, and never more than half the machine's memory divided by a sandbox's default memory
     * limit. One user may hold twice that, running plus queued: alone, a user fills every slot, and a client's
     * next request (or a background execution) waits in the queue rather than being refused; a flood from one
     * user is refused at once beyond it, and takes at most half of the queue (4 x max-concurrent) from others.
     */
    public static AdmissionLimits machineDefaults(int cores, long memoryBytes, long sandboxMemoryBytes) {
        long byMemory = memoryBytes <= 0 ? Long.MAX_VALUE : (memoryBytes / 2) / Math.max(1, sandboxMemoryBytes);
        long byCores = Math.max(MIN_DEFAULT_CONCURRENT, cores * 4L);
        int concurrent = (int) Math.max(1, Math.min(256, Math.min(byCores, byMemory)));
        return new AdmissionLimits(concurrent, concurrent * 2, concurrent * 4, Duration.ofSeconds(30));
    }

    /**
     * Parses {@code token:userId,token2:userId2}. Error messages name the entry's position, never the token.
     */
    public static List<ApiKey> parseKeys(String text) {
        List<ApiKey> keys = new ArrayList<>();
        Set<String> tokens = new HashSet<>();
        String[] entries = text.split(",");
        for (int i = 0; i < entries.length; i++) {
            String entry = entries[i].strip();
            if (entry.isEmpty()) {
                continue;
            }
            String where = "api.keys: entry " + (i + 1);
            // TOKEN:USER:admin marks an admin key; a token holds no ':' then (TOKEN:admin is a user named admin).
            boolean admin = entry.endsWith(":admin") && entry.indexOf(':') < entry.length() - ":admin".length();
            if (admin) {
                entry = entry.substring(0, entry.length() - ":admin".length());
            }
            int colon = entry.lastIndexOf(':');
            if (colon <= 0 || colon == entry.length() - 1) {
                throw new IllegalArgumentException(where + " must look like TOKEN:USER_ID or TOKEN:USER_ID:admin");
            }
            String token = entry.substring(0, colon);
            String user = entry.substring(colon + 1);
            if (token.length() < MIN_KEY_LENGTH) {
                throw new IllegalArgumentException(where + ": the token is shorter than " + MIN_KEY_LENGTH
                        + " characters; use a random one, e.g. from: openssl rand -hex 32");
            }
            if (!USER_ID.matcher(user).matches()) {
                throw new IllegalArgumentException(where + ": user id '" + user
                        + "' must be 1 to 128 of letters, digits and ._@+-");
            }
            if (!tokens.add(token)) {
                throw new IllegalArgumentException(where + ": the same token appears twice");
            }
            keys.add(new ApiKey(token, user, admin));
        }
        return keys;
    }

    private static List<String> list(String text) {
        return Arrays.stream(text.split(",")).map(String::strip).filter(x -> !x.isEmpty()).toList();
    }

    private static int positive(Settings s, String key, int fallback) {
        int value = s.integer(key, Integer.toString(fallback));
        if (value < 1) {
            throw new IllegalArgumentException(key + ": must be at least 1; got " + value);
        }
        return value;
    }

    private static long totalMemoryBytes() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getTotalMemorySize(); // container-aware: a cgroup limit wins over the host's RAM
        }
        return -1;
    }
}
