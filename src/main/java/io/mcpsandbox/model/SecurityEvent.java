package io.mcpsandbox.model;

import com.fasterxml.jackson.annotation.JsonValue;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;

/**
 * Something security-relevant that happened during an execution. Details never carry a secret itself,
 * only counts, offsets and names.
 */
public record SecurityEvent(Instant timestamp, String type, Severity severity, String description,
                            Map<String, Object> details) {

    public enum Severity {
        LOW, MEDIUM, HIGH, CRITICAL;

        @JsonValue
        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public SecurityEvent {
        details = details == null ? Map.of() : Map.copyOf(details);
    }

    public static SecurityEvent now(String type, Severity severity, String description, Map<String, Object> details) {
        return new SecurityEvent(Instant.now(), type, severity, description, details);
    }
}
