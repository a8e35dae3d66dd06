package io.mcpsandbox.scan;

import io.mcpsandbox.model.SecurityEvent.Severity;

/**
 * One match in one text: its kind, its severity and where it is, as UTF-16 {@code char} offsets into the
 * scanned {@link String} ({@code start} inclusive, {@code end} exclusive). Deliberately holds no copy of the
 * matched text.
 */
public record Finding(DetectorType type, int start, int end, Severity severity) {
    public Finding {
        if (start < 0 || end <= start) {
            throw new IllegalArgumentException("bad range [" + start + ", " + end + ")");
        }
    }

    Finding(DetectorType type, int start, int end) {
        this(type, start, end, type.severity());
    }
}
