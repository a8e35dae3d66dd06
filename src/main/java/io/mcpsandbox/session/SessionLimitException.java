package io.mcpsandbox.session;

/**
 * A session cannot be opened now: its user or the server holds as many as allowed (429), or the server takes no
 * new sessions at all ({@link #unavailable()}: a draining cluster node, 503).
 */
public final class SessionLimitException extends Exception {
    private final boolean unavailable;

    SessionLimitException(String message) {
        this(message, false);
    }

    SessionLimitException(String message, boolean unavailable) {
        super(message);
        this.unavailable = unavailable;
    }

    /** True: no new session is taken here now, whatever the caps (503); false: a cap is reached (429). */
    public boolean unavailable() {
        return unavailable;
    }
}
