package io.mcpsandbox.network;

/** Where the policy point reports what it refused: a security event {@code network.denied} per call. */
public interface EgressEvents {
    /**
     * @param target {@code host:port} the sandbox asked for (host normalized and printable), never payload
     * @param reason why, in a few words of the policy point's own
     */
    void denied(String target, String reason);
}
