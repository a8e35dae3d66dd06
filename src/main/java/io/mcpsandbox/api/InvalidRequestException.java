package io.mcpsandbox.api;

/** A request that could not be read into an execution request; {@code field} names what is wrong. */
public final class InvalidRequestException extends Exception {
    private final String field;

    public InvalidRequestException(String field, String message) {
        super(field == null ? message : field + ": " + message, null, false, false);
        this.field = field;
    }

    /** The field at fault, dotted for nested ones ({@code limits.timeoutMs}); null when no single field is. */
    public String field() {
        return field;
    }
}
