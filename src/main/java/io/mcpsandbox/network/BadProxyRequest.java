package io.mcpsandbox.network;

/**
 * The sandbox's proxy request cannot be served as sent: answered {@code 400} and closed. {@code target} is the
 * {@code host:port} it named when the head got that far (then the refusal is also an event), else null.
 */
public final class BadProxyRequest extends Exception {
    private final String target;

    public BadProxyRequest(String reason, String target) {
        super(reason);
        this.target = target;
    }

    public String target() {
        return target;
    }
}
