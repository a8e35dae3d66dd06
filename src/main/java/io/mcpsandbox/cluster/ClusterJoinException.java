package io.mcpsandbox.cluster;

/** The cluster in Redis is not one this node may join: another protocol version, or another secret. */
public final class ClusterJoinException extends Exception {
    ClusterJoinException(String message) {
        super(message, null, false, false);
    }
}
