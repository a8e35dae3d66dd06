package io.mcpsandbox.model;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/** Whether a session still holds its sandbox. */
public enum SessionStatus {
    /** The sandbox lives and takes executions. */
    OPEN,
    /** The sandbox is gone; the record says why ({@link SessionCloseReason}). */
    CLOSED;

    @JsonValue
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    @JsonCreator
    public static SessionStatus parse(String text) {
        for (SessionStatus status : values()) {
            if (status.wireName().equals(text)) {
                return status;
            }
        }
        throw new IllegalArgumentException("session status must be open or closed; got '" + text + "'");
    }
}
