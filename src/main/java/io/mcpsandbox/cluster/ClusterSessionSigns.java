package io.mcpsandbox.cluster;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The two signed values of session routing, both HMACs keyed with the cluster secret (so neither a client nor
 * anyone who can write to Redis without the secret can make one a node trusts):
 * <ul>
 * <li>the <b>owner entry</b> of a session, {@code session:<id>} in Redis: {@code "<node id> <sig>"}, the signature
 *     over the session id and the node id (an entry copied to another session's key does not verify);</li>
 * <li>the <b>routed header</b> a node puts on a request it forwards to the session's owner:
 *     {@code "<from node>;<epoch ms>;<sig>"}, the signature over the sender, the time, the method and the request
 *     target (path and query). The owner handles a request that carries a valid one itself and never routes it
 *     again (the loop guard); one older or newer than {@link #ROUTED_WINDOW} is not valid.</li>
 * </ul>
 * Every value read back (from Redis, from a header) is hostile: bounded and strictly parsed before any HMAC.
 */
public final class ClusterSessionSigns {
    /** What a routed request's header is called. */
    public static final String ROUTED_HEADER = "X-Mcp-Sandbox-Routed";
    /** How far a routed header's time may be from the receiver's clock (hosts' clocks differ a little). */
    static final Duration ROUTED_WINDOW = Duration.ofSeconds(60);
    /** Session ids are UUIDs: anything else is never looked up (nor made into a Redis key). */
    static final Pattern SESSION_ID = Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
    private static final Pattern HEX64 = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern MILLIS = Pattern.compile("[0-9]{1,15}");
    /** The first signed field of each kind: not a node id (it has spaces), so no node entry signs the same text. */
    private static final String OWNER_LABEL = "mcp-sandbox session owner v1";
    private static final String ROUTED_LABEL = "mcp-sandbox routed session request v1";
    private static final int MAX_OWNER = 64 + 1 + 64;
    private static final int MAX_ROUTED = 64 + 1 + 15 + 1 + 64;
    /** A request target (path and query) longer than this is never signed nor accepted. */
    static final int MAX_TARGET = 8192;

    private final ClusterSecret secret;

    public ClusterSessionSigns(ClusterSecret secret) {
        this.secret = secret;
    }

    /** Whether {@code id} looks like a session id (a UUID); nothing else is looked up. */
    public static boolean sessionId(String id) {
        return id != null && SESSION_ID.matcher(id).matches();
    }

    /** The owner entry's value for {@code sessionId} held by {@code nodeId}. */
    String owner(String sessionId, String nodeId) {
        return nodeId + " " + secret.entrySignature(List.of(OWNER_LABEL, sessionId, nodeId));
    }

    /** The node an owner entry names, when it is well formed and signed for this session; empty otherwise. */
    Optional<String> ownerOf(String sessionId, String value) {
        if (value == null || value.length() > MAX_OWNER || !sessionId(sessionId)) {
            return Optional.empty();
        }
        int space = value.indexOf(' ');
        if (space < 0) {
            return Optional.empty();
        }
        String node = value.substring(0, space);
        String sig = value.substring(space + 1);
        if (!ClusterSettings.NODE_ID_PATTERN.matcher(node).matches() || !HEX64.matcher(sig).matches()) {
            return Optional.empty();
        }
        return ClusterSecret.matches(secret.entrySignature(List.of(OWNER_LABEL, sessionId, node)), sig)
                ? Optional.of(node) : Optional.empty();
    }

    /** The routed header for a request {@code from} sends now ({@code target}: raw path and query). */
    public String routed(String from, Instant now, String method, String target) {
        String ms = Long.toString(now.toEpochMilli());
        return from + ";" + ms + ";" + secret.entrySignature(List.of(ROUTED_LABEL, from, ms, method, target));
    }

    /**
     * Whether {@code header} is a routed header a node of this cluster made for exactly this method and target,
     * within {@link #ROUTED_WINDOW} of {@code now}. Anything else (absent, malformed, forged, stale, for another
     * request) is false: the request is then an ordinary client's.
     */
    public boolean isRouted(String header, Instant now, String method, String target) {
        if (header == null || header.length() > MAX_ROUTED || method == null || target == null
                || target.length() > MAX_TARGET) {
            return false;
        }
        String[] f = header.split(";", -1);
        if (f.length != 3 || !ClusterSettings.NODE_ID_PATTERN.matcher(f[0]).matches()
                || !MILLIS.matcher(f[1]).matches() || !HEX64.matcher(f[2]).matches()) {
            return false;
        }
        long skew = Math.abs(now.toEpochMilli() - Long.parseLong(f[1]));
        if (skew > ROUTED_WINDOW.toMillis()) {
            return false;
        }
        return ClusterSecret.matches(secret.entrySignature(List.of(ROUTED_LABEL, f[0], f[1], method, target)), f[2]);
    }
}
