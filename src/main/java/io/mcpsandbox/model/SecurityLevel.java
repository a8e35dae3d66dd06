package io.mcpsandbox.model;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/** How strong the isolation must be. A level is never silently downgraded. */
public enum SecurityLevel {
    LOW, MEDIUM, HIGH, CRITICAL;

    public static final SecurityLevel DEFAULT = MEDIUM;

    @JsonValue
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    @JsonCreator
    public static SecurityLevel parse(String text) {
        for (SecurityLevel level : values()) {
            if (level.wireName().equalsIgnoreCase(text.trim())) {
                return level;
            }
        }
        throw new IllegalArgumentException(
                "securityLevel must be one of low, medium, high, critical; got '" + text + "'");
    }
}
