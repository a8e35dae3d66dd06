package io.mcpsandbox.model;

import java.time.Instant;
import java.util.List;

/**
 * What is stored about one session: written when it opens, again as it is used, and when it closes (with
 * why). A server that restarts finds its open sessions here ({@code serverId}, {@code sandboxName}) to take
 * their sandboxes back or close them with a reason. See docs/records.md.
 *
 * @param rootfs             {@link #READ_ONLY} or {@link #WRITABLE}: the sandbox's root filesystem
 * @param limits             the limits the session's sandbox runs under
 * @param envNames           names of the environment variables the session set; never their values (secrets)
 * @param expiresAt          the end of its hard lifetime
 * @param idleTimeoutSeconds closed when no execution came for this long; 0: no idle timeout
 * @param lastActiveAt       when it last ran something (its creation until then)
 * @param closeReason        null while open
 * @param closeDetail        free text about the close, at most {@link #MAX_CLOSE_DETAIL} characters; may be null
 * @param closedAt           null while open
 * @param sandboxName        the container that is the session's sandbox
 * @param serverId           the server process that holds the sandbox
 * @param executions         how many executions ran in it
 */
public record SessionRecord(String sessionId, String userId, String image, String runtime,
                            SecurityLevel securityLevel, String rootfs, ResourceLimits limits, List<String> envNames,
                            Instant createdAt, Instant expiresAt, long idleTimeoutSeconds, Instant lastActiveAt,
                            SessionStatus status, SessionCloseReason closeReason, String closeDetail,
                            Instant closedAt, String sandboxName, String serverId, long executions) {
    public static final String READ_ONLY = "read-only";
    public static final String WRITABLE = "writable";
    /** The most characters of {@code closeDetail} kept: it may carry text that came from the sandbox. */
    public static final int MAX_CLOSE_DETAIL = 4096;
    static final String CUT_MARKER = " [cut]";

    public SessionRecord {
        envNames = envNames == null ? List.of() : List.copyOf(envNames);
        closeDetail = bounded(closeDetail);
    }

    /** A session that has just opened: nothing ran in it yet. */
    public static SessionRecord opened(String sessionId, String userId, String image, String runtime,
                                       SecurityLevel level, String rootfs, ResourceLimits limits,
                                       List<String> envNames, Instant createdAt, Instant expiresAt,
                                       long idleTimeoutSeconds, String sandboxName, String serverId) {
        return new SessionRecord(sessionId, userId, image, runtime, level, rootfs, limits, envNames, createdAt,
                expiresAt, idleTimeoutSeconds, createdAt, SessionStatus.OPEN, null, null, null, sandboxName, serverId,
                0);
    }

    /** Active at {@code at} (never moves back in time). */
    public SessionRecord touched(Instant at) {
        Instant last = lastActiveAt == null || at.isAfter(lastActiveAt) ? at : lastActiveAt;
        return new SessionRecord(sessionId, userId, image, runtime, securityLevel, rootfs, limits, envNames,
                createdAt, expiresAt, idleTimeoutSeconds, last, status, closeReason, closeDetail, closedAt,
                sandboxName, serverId, executions);
    }

    /** An execution started in it at {@code at}: touched, and counted. */
    public SessionRecord executed(Instant at) {
        SessionRecord t = touched(at);
        return new SessionRecord(sessionId, userId, image, runtime, securityLevel, rootfs, limits, envNames,
                createdAt, expiresAt, idleTimeoutSeconds, t.lastActiveAt, status, closeReason, closeDetail, closedAt,
                sandboxName, serverId, executions + 1);
    }

    /**
     * Closed for {@code reason} at {@code at}. A session closes once: closing a closed one returns it as it
     * is, so the first reason stays.
     */
    public SessionRecord closed(SessionCloseReason reason, String detail, Instant at) {
        if (reason == null || at == null) {
            throw new IllegalArgumentException("a close needs a reason and a time");
        }
        if (status == SessionStatus.CLOSED) {
            return this;
        }
        return new SessionRecord(sessionId, userId, image, runtime, securityLevel, rootfs, limits, envNames,
                createdAt, expiresAt, idleTimeoutSeconds, lastActiveAt, SessionStatus.CLOSED, reason, detail, at,
                sandboxName, serverId, executions);
    }

    /** When it is closed as idle unless something runs before; null without an idle timeout. */
    public Instant idleExpiresAt() {
        if (idleTimeoutSeconds <= 0 || lastActiveAt == null) {
            return null;
        }
        return lastActiveAt.plusSeconds(idleTimeoutSeconds);
    }

    public boolean isOpen() {
        return status == SessionStatus.OPEN;
    }

    /** At most {@link #MAX_CLOSE_DETAIL} characters, cut between characters, ending with a marker when cut. */
    private static String bounded(String text) {
        if (text == null || text.length() <= MAX_CLOSE_DETAIL) {
            return text;
        }
        int end = MAX_CLOSE_DETAIL - CUT_MARKER.length();
        if (Character.isHighSurrogate(text.charAt(end - 1))) {
            end--;
        }
        return text.substring(0, end) + CUT_MARKER;
    }
}
