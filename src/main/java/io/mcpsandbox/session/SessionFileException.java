package io.mcpsandbox.session;

/** A file operation in a session that cannot be done: why, and which kind of refusal it is (for the status). */
public final class SessionFileException extends Exception {
    /** INVALID: the path breaks the rules (400); MISSING: nothing there (404); REFUSED: a link, a directory, a
     * FIFO, a full disk... (422); TOO_LARGE: over the cap (413). */
    public enum Kind { INVALID, MISSING, REFUSED, TOO_LARGE }

    private final Kind kind;

    SessionFileException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
