package io.mcpsandbox.session;

/** A session cannot be opened now: its user or the server holds as many as allowed (429). */
public final class SessionLimitException extends Exception {
    SessionLimitException(String message) {
        super(message);
    }
}
