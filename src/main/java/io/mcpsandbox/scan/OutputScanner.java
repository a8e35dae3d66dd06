package io.mcpsandbox.scan;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.model.DlpMode;
import io.mcpsandbox.model.SecurityEvent;
import io.mcpsandbox.model.SecurityEvent.Severity;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Scans a program's output for secrets and personal data (see {@code docs/scanning.md} for the detectors).
 * Each finding type in a stream becomes one {@link SecurityEvent} of type {@code dlp.<kind>} whose details carry
 * {@code count}, {@code stream}, {@code offsets} ({@code [start, end)} UTF-16 char offsets, at most
 * {@value #MAX_OFFSETS}) and {@code action}; never the matched text.
 *
 * <p>Immutable and thread-safe: one instance serves every execution.
 */
public final class OutputScanner {
    /** At most this many {@code [start, end]} pairs per event; {@code offsetsTruncated} says when more were found. */
    public static final int MAX_OFFSETS = 20;
    /** Configuration key: comma-separated detector names to turn off, e.g. {@code high_entropy,ssn}. */
    public static final String DISABLED_KEY = "dlp.detectors.disabled";

    private final Set<DetectorType> enabled;

    /** All detectors on. */
    public OutputScanner() {
        this(EnumSet.allOf(DetectorType.class));
    }

    /** Only the given detectors on. */
    public OutputScanner(Collection<DetectorType> enabled) {
        this.enabled = enabled.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(enabled));
    }

    /** All detectors except those listed under {@value #DISABLED_KEY} (env {@code MCP_SANDBOX_DLP_DETECTORS_DISABLED}). */
    public static OutputScanner fromSettings(Settings settings) {
        EnumSet<DetectorType> on = EnumSet.allOf(DetectorType.class);
        String disabled = settings.string(DISABLED_KEY, "");
        for (String name : disabled.split(",")) {
            if (!name.isBlank()) {
                try {
                    on.remove(DetectorType.parse(name));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(DISABLED_KEY + ": " + e.getMessage(), e);
                }
            }
        }
        return new OutputScanner(on);
    }

    public Set<DetectorType> enabled() {
        return enabled;
    }

    /**
     * Scans both streams and applies the mode: REPORT returns them unchanged, REDACT replaces every finding with
     * {@code [REDACTED:<kind>]}, BLOCK returns two empty strings and {@code withheld = true} when anything was found
     * (and the streams unchanged when nothing was). A null stream is scanned as empty and returned as null unless
     * withheld.
     */
    public ScanOutcome scan(String stdout, String stderr, DlpMode mode) {
        Objects.requireNonNull(mode, "mode");
        List<Finding> out = findings(stdout);
        List<Finding> err = findings(stderr);
        String action = switch (mode) {
            case REPORT -> "reported";
            case REDACT -> "redacted";
            case BLOCK -> "withheld";
        };
        List<SecurityEvent> events = new ArrayList<>();
        events.addAll(events(out, "stdout", action));
        events.addAll(events(err, "stderr", action));
        if (events.isEmpty()) {
            return new ScanOutcome(stdout, stderr, false, events);
        }
        return switch (mode) {
            case REPORT -> new ScanOutcome(stdout, stderr, false, events);
            case REDACT -> new ScanOutcome(redact(stdout, out), redact(stderr, err), false, events);
            case BLOCK -> new ScanOutcome("", "", true, events);
        };
    }

    /** The findings in one text, overlaps resolved (the more specific kind wins), sorted by offset. */
    public List<Finding> findings(String text) {
        if (text == null || text.isEmpty() || enabled.isEmpty()) {
            return List.of();
        }
        return new TextScanner(text, enabled).scan();
    }

    /** The text with each finding replaced by its kind's redaction marker. Findings must not overlap. */
    public static String redact(String text, List<Finding> findings) {
        if (text == null || findings.isEmpty()) {
            return text;
        }
        StringBuilder sb = new StringBuilder(text.length());
        int pos = 0;
        for (Finding f : findings) {
            sb.append(text, pos, f.start()).append(f.type().redactionMarker());
            pos = f.end();
        }
        return sb.append(text, pos, text.length()).toString();
    }

    /** One event per kind found in the stream, in detector order. */
    static List<SecurityEvent> events(List<Finding> findings, String stream, String action) {
        if (findings.isEmpty()) {
            return List.of();
        }
        Map<DetectorType, List<Finding>> byType = new EnumMap<>(DetectorType.class);
        for (Finding f : findings) {
            byType.computeIfAbsent(f.type(), t -> new ArrayList<>()).add(f);
        }
        List<SecurityEvent> events = new ArrayList<>(byType.size());
        for (Map.Entry<DetectorType, List<Finding>> e : byType.entrySet()) {
            DetectorType type = e.getKey();
            List<Finding> list = e.getValue();
            Severity severity = Severity.LOW;
            List<List<Integer>> offsets = new ArrayList<>(Math.min(list.size(), MAX_OFFSETS));
            for (Finding f : list) {
                if (f.severity().compareTo(severity) > 0) {
                    severity = f.severity();
                }
                if (offsets.size() < MAX_OFFSETS) {
                    offsets.add(List.of(f.start(), f.end()));
                }
            }
            Map<String, Object> details = new LinkedHashMap<>();
            details.put("detector", type.wireName());
            details.put("count", list.size());
            details.put("stream", stream);
            details.put("offsets", List.copyOf(offsets));
            details.put("offsetsTruncated", list.size() > MAX_OFFSETS);
            details.put("action", action);
            String description = list.size() + " " + type.label() + (list.size() == 1 ? "" : " matches")
                    + " in " + stream + " (" + action + ")";
            events.add(SecurityEvent.now(type.eventType(), severity, description, details));
        }
        return events;
    }
}
