package io.mcpsandbox.session;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.util.Set;

/**
 * The driver's report at a cell's end, parsed strictly from the rest of the stdout marker's line:
 * {@code " " + {"status": "ok"|"error", "result": text|null}} and nothing else. Hostile input, bounded by the
 * scanner before it gets here.
 */
record CellOutcome(boolean error, String result) {
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .disable(JsonParser.Feature.ALLOW_COMMENTS)
            .build();
    private static final Set<String> FIELDS = Set.of("status", "result");

    /** Thrown for anything but the expected report; the interpreter is then treated as broken. */
    static final class MalformedException extends Exception {
        MalformedException(String message) {
            super(message);
        }
    }

    static CellOutcome parse(byte[] line) throws MalformedException {
        if (line.length < 2 || line[0] != ' ') {
            throw new MalformedException("a cell-end marker without its report");
        }
        JsonNode report;
        try {
            report = JSON.readTree(new java.io.ByteArrayInputStream(line, 1, line.length - 1));
        } catch (IOException e) {
            throw new MalformedException("a cell-end report that is not JSON");
        }
        if (report == null || !report.isObject() || report.size() != 2) {
            throw new MalformedException("a cell-end report that is not {status, result}");
        }
        for (var names = report.fieldNames(); names.hasNext(); ) {
            if (!FIELDS.contains(names.next())) {
                throw new MalformedException("a cell-end report with an unknown field");
            }
        }
        JsonNode status = report.get("status");
        JsonNode result = report.get("result");
        if (status == null || !status.isTextual() || !(status.asText().equals("ok")
                || status.asText().equals("error"))) {
            throw new MalformedException("a cell-end report whose status is not ok or error");
        }
        if (result == null || !(result.isNull() || result.isTextual())) {
            throw new MalformedException("a cell-end report whose result is not text or null");
        }
        return new CellOutcome(status.asText().equals("error"), result.isNull() ? null : result.asText());
    }
}
