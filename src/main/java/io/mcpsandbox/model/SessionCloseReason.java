package io.mcpsandbox.model;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/** Why a session ended. */
public enum SessionCloseReason {
    /** Its user closed it. */
    CLOSED,
    /** No execution for longer than its idle timeout. */
    IDLE,
    /** Its hard lifetime ended. */
    EXPIRED,
    /** The sandbox broke (it died, or the service could not talk to it); the detail says how. */
    FAILED,
    /** The server restarted and could not take the sandbox back. */
    SERVER_RESTART,
    /** The cluster node that held its sandbox stopped answering (dead: no heartbeat for cluster.dead-after). */
    NODE_LOST;

    @JsonValue
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    @JsonCreator
    public static SessionCloseReason parse(String text) {
        for (SessionCloseReason reason : values()) {
            if (reason.wireName().equals(text)) {
                return reason;
            }
        }
        throw new IllegalArgumentException(
                "session close reason must be one of closed, idle, expired, failed, server_restart, node_lost; got '"
                        + text + "'");
    }
}
