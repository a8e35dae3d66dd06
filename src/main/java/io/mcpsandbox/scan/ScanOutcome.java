package io.mcpsandbox.scan;

import io.mcpsandbox.model.SecurityEvent;
import java.util.List;

/**
 * What {@link OutputScanner#scan} hands back.
 *
 * @param stdout   the output to return to the caller: unchanged (report), masked (redact), or empty when withheld
 * @param stderr   likewise for standard error
 * @param withheld true when block mode found something and both streams were replaced by empty text
 * @param events   one event per finding type per stream (type {@code dlp.<kind>}), in detector order, stdout first
 */
public record ScanOutcome(String stdout, String stderr, boolean withheld, List<SecurityEvent> events) {
    public ScanOutcome {
        events = List.copyOf(events);
    }

    /** True when nothing was found. */
    public boolean clean() {
        return events.isEmpty();
    }
}
