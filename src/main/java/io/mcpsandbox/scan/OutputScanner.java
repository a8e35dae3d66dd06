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
 * {@code count}, {@code stream}, {@code offsets} ({@code [start, end)} UTF-16 char offsets into the original,
 * unredacted stream, at most {@value #MAX_OFFSETS}) and {@code action}; never the matched text. For the joined
 * streams ({@value #STDOUT_THEN_STDERR}, {@value #STDERR_THEN_STDOUT}) {@code start} is in the first stream and
 * {@code end} in the second.
 *
 * <p>Immutable and thread-safe: one instance serves every execution.
 */
public final class OutputScanner {
    /** At most this many {@code [start, end]} pairs per event; {@code offsetsTruncated} says when more were found. */
    public static final int MAX_OFFSETS = 20;
    /** Configuration key: comma-separated detector names to turn off, e.g. {@code high_entropy,ssn}. */
    public static final String DISABLED_KEY = "dlp.detectors.disabled";
    /** The {@code stream} of an event for a secret that begins at the end of stdout and ends in stderr. */
    public static final String STDOUT_THEN_STDERR = "stdout+stderr";
    /** The {@code stream} of an event for a secret that begins at the end of stderr and ends in stdout. */
    public static final String STDERR_THEN_STDOUT = "stderr+stdout";
    /** How much of each stream's end and start is scanned joined to the other. */
    static final int JOIN_WINDOW = 1024;

    private final Set<DetectorType> enabled;

    /** All detectors on. */
    public OutputScanner() {
        this(EnumSet.allOf(DetectorType.class));
    }

    /** Only the given detectors on. */
    public OutputScanner(Collection<DetectorType> enabled) {
        this.enabled = enabled.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(enabled));
    }

    /**
     * All detectors except those listed under {@value #DISABLED_KEY} (env {@code MCP_SANDBOX_DLP_DETECTORS_DISABLED}).
     */
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
     *
     * <p>Each stream is scanned as printed and as a terminal shows it (see {@link NormalizedText}), and the end of
     * each stream is scanned joined to the start of the other, so a secret split by escape sequences, zero-width
     * characters or between the two streams is found. Offsets and redaction always refer to the original output.
     */
    public ScanOutcome scan(String stdout, String stderr, DlpMode mode) {
        Objects.requireNonNull(mode, "mode");
        List<Finding> out = findings(stdout);
        List<Finding> err = findings(stderr);
        List<Split> outThenErr = splitFindings(stdout, stderr);
        List<Split> errThenOut = splitFindings(stderr, stdout);
        String action = switch (mode) {
            case REPORT -> "reported";
            case REDACT -> "redacted";
            case BLOCK -> "withheld";
        };
        List<SecurityEvent> events = new ArrayList<>();
        events.addAll(events(Hit.of(out), "stdout", action));
        events.addAll(events(Hit.of(err), "stderr", action));
        events.addAll(events(spans(outThenErr), STDOUT_THEN_STDERR, action));
        events.addAll(events(spans(errThenOut), STDERR_THEN_STDOUT, action));
        if (events.isEmpty()) {
            return new ScanOutcome(stdout, stderr, false, events);
        }
        return switch (mode) {
            case REPORT -> new ScanOutcome(stdout, stderr, false, events);
            case REDACT -> new ScanOutcome(
                    redact(stdout, withParts(out, outThenErr, errThenOut)),
                    redact(stderr, withParts(err, errThenOut, outThenErr)), false, events);
            case BLOCK -> new ScanOutcome("", "", true, events);
        };
    }

    /**
     * The findings in one text, overlaps resolved (the more specific kind wins), sorted by offset. When the text
     * holds escape sequences, control or format characters it is scanned without them, and also as is where the
     * removal could hide something ({@link NormalizedText#rawScanNeeded()}); offsets are into {@code text} as given
     * (a secret split by escapes spans them).
     */
    public List<Finding> findings(String text) {
        if (text == null || text.isEmpty() || enabled.isEmpty()) {
            return List.of();
        }
        NormalizedText normalized = NormalizedText.of(text);
        if (normalized.unchanged()) {
            return new TextScanner(text, enabled).scan();
        }
        List<Finding> all = new ArrayList<>();
        if (normalized.rawScanNeeded() || normalized.text().isEmpty()) {
            all.addAll(new TextScanner(text, enabled).scan());
        }
        if (!normalized.text().isEmpty()) {
            for (Finding f : new TextScanner(normalized.text(), enabled).scan()) {
                all.add(new Finding(f.type(), normalized.originOf(f.start()), normalized.originEnd(f.end()),
                        f.severity()));
            }
        }
        return TextScanner.resolveOverlaps(all);
    }

    /**
     * A secret that begins in one stream and ends in the other: {@code [firstStart, firstEnd)} in the first stream,
     * {@code [secondStart, secondEnd)} in the second.
     */
    record Split(DetectorType type, Severity severity, int firstStart, int firstEnd, int secondStart, int secondEnd) {
    }

    /**
     * Findings that cross from the end of {@code first} into the start of {@code second}: the last
     * {@value #JOIN_WINDOW} chars of one (less one trailing line break, which {@code print} adds) joined to the first
     * {@value #JOIN_WINDOW} of the other, normalised, scanned.
     */
    List<Split> splitFindings(String first, String second) {
        if (first == null || second == null || first.isEmpty() || second.isEmpty() || enabled.isEmpty()) {
            return List.of();
        }
        int tailStart = Math.max(0, first.length() - JOIN_WINDOW);
        int tailEnd = first.length();
        if (tailEnd > tailStart && first.charAt(tailEnd - 1) == '\n') {
            tailEnd--;
            if (tailEnd > tailStart && first.charAt(tailEnd - 1) == '\r') {
                tailEnd--;
            }
        }
        int headEnd = Math.min(second.length(), JOIN_WINDOW);
        String joined = first.substring(tailStart, tailEnd) + second.substring(0, headEnd);
        int boundary = tailEnd - tailStart;
        NormalizedText normalized = NormalizedText.of(joined);
        if (normalized.text().isEmpty()) {
            return List.of();
        }
        List<Split> splits = new ArrayList<>();
        for (Finding f : new TextScanner(normalized.text(), enabled).scan()) {
            int start = normalized.originOf(f.start());
            int end = normalized.originEnd(f.end());
            if (start >= boundary || end <= boundary) {
                continue; // within one stream: the per-stream scan reports it
            }
            int k = f.start();
            while (normalized.originOf(k + 1) < boundary) {
                k++;
            }
            int firstEnd = normalized.originOf(k) + 1;
            int secondStart = normalized.originOf(k + 1) - boundary;
            splits.add(new Split(f.type(), f.severity(), tailStart + start, tailStart + firstEnd, secondStart,
                    end - boundary));
        }
        return splits;
    }

    /** Split findings as event hits: from the start in the first stream to the end in the second. */
    private static List<Hit> spans(List<Split> splits) {
        List<Hit> list = new ArrayList<>(splits.size());
        for (Split s : splits) {
            list.add(new Hit(s.type(), s.severity(), s.firstStart(), s.secondEnd()));
        }
        return list;
    }

    /** What an event counts: a kind, a severity, and the offsets it reports. */
    private record Hit(DetectorType type, Severity severity, int start, int end) {
        static List<Hit> of(List<Finding> findings) {
            List<Hit> list = new ArrayList<>(findings.size());
            for (Finding f : findings) {
                list.add(new Hit(f.type(), f.severity(), f.start(), f.end()));
            }
            return list;
        }
    }

    /** One stream's findings plus its parts of split findings, for redaction. */
    private static List<Finding> withParts(List<Finding> own, List<Split> asFirst, List<Split> asSecond) {
        if (asFirst.isEmpty() && asSecond.isEmpty()) {
            return own;
        }
        List<Finding> all = new ArrayList<>(own);
        for (Split s : asFirst) {
            all.add(new Finding(s.type(), s.firstStart(), s.firstEnd(), s.severity()));
        }
        for (Split s : asSecond) {
            all.add(new Finding(s.type(), s.secondStart(), s.secondEnd(), s.severity()));
        }
        return TextScanner.resolveOverlaps(all);
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
    private static List<SecurityEvent> events(List<Hit> findings, String stream, String action) {
        if (findings.isEmpty()) {
            return List.of();
        }
        Map<DetectorType, List<Hit>> byType = new EnumMap<>(DetectorType.class);
        for (Hit f : findings) {
            byType.computeIfAbsent(f.type(), t -> new ArrayList<>()).add(f);
        }
        List<SecurityEvent> events = new ArrayList<>(byType.size());
        for (Map.Entry<DetectorType, List<Hit>> e : byType.entrySet()) {
            DetectorType type = e.getKey();
            List<Hit> list = e.getValue();
            Severity severity = Severity.LOW;
            List<List<Integer>> offsets = new ArrayList<>(Math.min(list.size(), MAX_OFFSETS));
            for (Hit f : list) {
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
