package io.mcpsandbox.record;

import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.RequestSummary;
import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.SecurityEvent;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.model.SessionCloseReason;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.model.SessionStatus;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import tools.jackson.core.JacksonException;
import tools.jackson.core.type.TypeReference;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.json.JsonMapper;

/** The JSON forms of a record's structured fields, shared by both backends. */
final class RecordJson {
    private static final JsonMapper MAPPER = JsonMapper.builder()
            // A newer version may add fields to the result: an older reader ignores them.
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .disable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .build();
    private static final TypeReference<List<String>> STRINGS = new TypeReference<>() {
    };
    private static final TypeReference<ResourceLimits> LIMITS = new TypeReference<>() {
    };
    private static final TypeReference<List<SecurityEvent>> EVENTS = new TypeReference<>() {
    };

    private RecordJson() {
    }

    static JsonMapper mapper() {
        return MAPPER;
    }

    static String write(Object value) {
        if (value == null) {
            return null;
        }
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JacksonException e) {
            throw new ExecutionStoreException("cannot write a record field as JSON: " + e.getOriginalMessage(), e);
        }
    }

    static List<String> command(String json) {
        return json == null ? List.of() : read(json, STRINGS);
    }

    static List<String> strings(String json) {
        return json == null ? List.of() : read(json, STRINGS);
    }

    static ResourceLimits limits(String json) {
        return json == null ? null : read(json, LIMITS);
    }

    static List<SecurityEvent> events(String json) {
        return json == null ? List.of() : read(json, EVENTS);
    }

    static ExecutionResult result(String json) {
        if (json == null) {
            return null;
        }
        try {
            return MAPPER.readValue(json, ExecutionResult.class);
        } catch (JacksonException e) {
            throw new ExecutionStoreException("a stored result is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    static RequestSummary request(String json) {
        if (json == null) {
            return null;
        }
        try {
            return MAPPER.readValue(json, RequestSummary.class);
        } catch (JacksonException e) {
            throw new ExecutionStoreException("a stored request is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    private static <T> T read(String json, TypeReference<T> type) {
        try {
            return MAPPER.readValue(json, type);
        } catch (JacksonException e) {
            throw new ExecutionStoreException("a stored record field is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** A record the stores can index: it has an id, a start time and a status. */
    static io.mcpsandbox.model.ExecutionRecord valid(io.mcpsandbox.model.ExecutionRecord record) {
        if (record == null) {
            throw new IllegalArgumentException("record is null");
        }
        if (record.executionId() == null || record.executionId().isBlank()) {
            throw new IllegalArgumentException("record has no executionId");
        }
        if (record.startedAt() == null) {
            throw new IllegalArgumentException("record " + record.executionId() + " has no startedAt");
        }
        if (record.status() == null) {
            throw new IllegalArgumentException("record " + record.executionId() + " has no status");
        }
        return record;
    }

    /** A session record the stores can index: it has an id, a creation time, and a consistent status. */
    static SessionRecord valid(SessionRecord session) {
        if (session == null) {
            throw new IllegalArgumentException("session record is null");
        }
        if (session.sessionId() == null || session.sessionId().isBlank()) {
            throw new IllegalArgumentException("session record has no sessionId");
        }
        if (session.createdAt() == null) {
            throw new IllegalArgumentException("session " + session.sessionId() + " has no createdAt");
        }
        if (session.status() == null) {
            throw new IllegalArgumentException("session " + session.sessionId() + " has no status");
        }
        boolean closed = session.status() == SessionStatus.CLOSED;
        if (closed != (session.closeReason() != null) || closed != (session.closedAt() != null)) {
            throw new IllegalArgumentException("session " + session.sessionId()
                    + ": a closed session has a closeReason and closedAt, an open one neither");
        }
        if (session.rootfs() != null && !session.rootfs().equals(SessionRecord.READ_ONLY)
                && !session.rootfs().equals(SessionRecord.WRITABLE)) {
            throw new IllegalArgumentException("session " + session.sessionId() + ": rootfs must be "
                    + SessionRecord.READ_ONLY + " or " + SessionRecord.WRITABLE);
        }
        return session;
    }

    static String sessionStatus(SessionStatus status) {
        return status.wireName();
    }

    static SessionStatus sessionStatus(String text) {
        return SessionStatus.parse(text);
    }

    static String closeReason(SessionCloseReason reason) {
        return reason == null ? null : reason.wireName();
    }

    static SessionCloseReason closeReason(String text) {
        return text == null ? null : SessionCloseReason.parse(text);
    }

    static String status(ExecutionStatus status) {
        return status.wireName();
    }

    static ExecutionStatus status(String text) {
        return ExecutionStatus.valueOf(text.toUpperCase(Locale.ROOT));
    }

    static String level(SecurityLevel level) {
        return level == null ? null : level.wireName();
    }

    static SecurityLevel level(String text) {
        return text == null ? null : SecurityLevel.parse(text);
    }

    static Instant instant(String text) {
        return text == null ? null : Instant.parse(text);
    }

    static String instant(Instant instant) {
        return instant == null ? null : instant.toString();
    }
}
