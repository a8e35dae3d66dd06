package io.mcpsandbox.session;

import io.mcpsandbox.model.SessionCloseReason;

/**
 * A session that cannot be used: unknown or another user's ({@link Kind#NOT_FOUND}: the two look the same, so
 * ids cannot be probed), or closed ({@link Kind#GONE}, with why).
 */
public final class SessionUnavailableException extends Exception {
    public enum Kind { NOT_FOUND, GONE }

    private final Kind kind;
    private final transient SessionCloseReason reason;

    private SessionUnavailableException(Kind kind, SessionCloseReason reason, String message) {
        super(message);
        this.kind = kind;
        this.reason = reason;
    }

    static SessionUnavailableException notFound(String sessionId) {
        return new SessionUnavailableException(Kind.NOT_FOUND, null, "no session " + bounded(sessionId));
    }

    /** An open session another server holds, which this one cannot use (the message says where or why). */
    static SessionUnavailableException elsewhere(String sessionId, String why) {
        return new SessionUnavailableException(Kind.NOT_FOUND, null, "session " + bounded(sessionId)
                + " is not on this server: " + why);
    }

    static SessionUnavailableException gone(String sessionId, SessionCloseReason reason, String detail) {
        return new SessionUnavailableException(Kind.GONE, reason, "session " + bounded(sessionId) + " is closed ("
                + reason.wireName() + (detail == null || detail.isBlank() ? "" : ": " + detail) + ")");
    }

    public Kind kind() {
        return kind;
    }

    /** Why it closed; null for {@link Kind#NOT_FOUND}. */
    public SessionCloseReason reason() {
        return reason;
    }

    private static String bounded(String id) {
        return id == null ? "" : id.length() <= 64 ? id : id.substring(0, 64) + "...";
    }
}
