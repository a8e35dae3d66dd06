package io.mcpsandbox.api;

import tools.jackson.core.StreamReadFeature;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.json.JsonMapper;

/** The one JSON mapper configuration the API layers share: strict on input, ISO dates on output. */
public final class Json {
    private Json() {
    }

    public static JsonMapper mapper() {
        return JsonMapper.builder()
                // {"code":"a","code":"b"} is an error, not a guess
                .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .build();
    }
}
