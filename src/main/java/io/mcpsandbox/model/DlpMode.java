package io.mcpsandbox.model;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/** What the output scanner does with a finding: report it, mask it in the output, or withhold the output. */
public enum DlpMode {
    REPORT, REDACT, BLOCK;

    @JsonValue
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    @JsonCreator
    public static DlpMode parse(String text) {
        for (DlpMode mode : values()) {
            if (mode.wireName().equalsIgnoreCase(text.trim())) {
                return mode;
            }
        }
        throw new IllegalArgumentException("dlpMode must be one of report, redact, block; got '" + text + "'");
    }
}
