package io.mcpsandbox.queue;

import io.mcpsandbox.model.ExecutionRequest;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.json.JsonMapper;

/**
 * A queued request as stored: the parsed, validated {@link ExecutionRequest} as JSON (its record components,
 * the user included), read back when it is its turn. Written and read by this server only, so it is the
 * model's own form, not the API's body.
 */
final class QueuedRequests {
    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .build();

    private QueuedRequests() {
    }

    static byte[] write(ExecutionRequest request) {
        return JSON.writeValueAsBytes(request);
    }

    /** @throws IllegalStateException when the stored form cannot be read back (named, without its content) */
    static ExecutionRequest read(byte[] stored) {
        try {
            return JSON.readValue(stored, ExecutionRequest.class);
        } catch (JacksonException e) {
            throw new IllegalStateException("the queued request cannot be read back: " + e.getOriginalMessage(), e);
        }
    }
}
