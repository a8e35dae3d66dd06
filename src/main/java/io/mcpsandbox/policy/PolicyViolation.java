package io.mcpsandbox.policy;

/** Policy refused a request before anything ran. {@code field} names the request field at fault, if one is. */
public final class PolicyViolation extends Exception {
    private final String field;

    public PolicyViolation(String field, String message) {
        super(field == null ? message : field + ": " + message);
        this.field = field;
    }

    public String field() {
        return field;
    }
}
