package io.mcpsandbox.model;

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses the human forms used by the CLI and config: durations like "5s", sizes like "256m". */
public final class Units {
    private static final Pattern DURATION = Pattern.compile("(\\d+)(ms|s|m|h|d)?");
    private static final Pattern SIZE = Pattern.compile("(\\d+)([kmgt]i?b?|b)?");

    private Units() {
    }

    /** "1500ms", "5s", "2m", "1h", "30d"; a bare number is seconds. */
    public static Duration parseDuration(String field, String text) {
        Matcher m = DURATION.matcher(text.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new IllegalArgumentException(
                    field + ": expected a duration like 500ms, 5s, 2m, 24h, 30d; got '" + text + "'");
        }
        String unit = m.group(2) == null ? "s" : m.group(2);
        try {
            long n = Long.parseLong(m.group(1));
            return switch (unit) {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                case "h" -> Duration.ofHours(n);
                default -> Duration.ofDays(n);
            };
        } catch (ArithmeticException | NumberFormatException e) {
            throw new IllegalArgumentException(field + ": duration too long: '" + text + "'");
        }
    }

    /** "512k", "256m", "1g", "1GiB", "1048576"; binary multiples. */
    public static long parseBytes(String field, String text) {
        Matcher m = SIZE.matcher(text.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new IllegalArgumentException(field + ": expected a size like 64k, 256m, 1g; got '" + text + "'");
        }
        long n;
        try {
            n = Long.parseLong(m.group(1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(field + ": size too large: '" + text + "'");
        }
        String unit = m.group(2) == null ? "b" : m.group(2).substring(0, 1);
        int shift = switch (unit) {
            case "k" -> 10;
            case "m" -> 20;
            case "g" -> 30;
            case "t" -> 40;
            default -> 0;
        };
        if (shift > 0 && n > (Long.MAX_VALUE >> shift)) {
            throw new IllegalArgumentException(field + ": size too large: '" + text + "'");
        }
        return n << shift;
    }

    public static String formatBytes(long bytes) {
        if (bytes % (1L << 30) == 0 && bytes > 0) return (bytes >> 30) + "g";
        if (bytes % (1L << 20) == 0 && bytes > 0) return (bytes >> 20) + "m";
        if (bytes % (1L << 10) == 0 && bytes > 0) return (bytes >> 10) + "k";
        return Long.toString(bytes);
    }

    /** The largest unit that divides it: "30d", "24h", "90m", "45s", "500ms". */
    public static String formatDuration(Duration d) {
        long ms = d.toMillis();
        long[] units = {86_400_000L, 3_600_000L, 60_000L, 1_000L};
        String[] names = {"d", "h", "m", "s"};
        for (int i = 0; i < units.length && ms != 0; i++) {
            if (ms % units[i] == 0) {
                return ms / units[i] + names[i];
            }
        }
        return ms + "ms";
    }
}
