package io.mcpsandbox.runtime.version;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An upstream release number as runtimes print it: dotted numbers, an optional pre-release ({@code -rc.3}) and
 * build metadata that does not count ({@code +ds1}, {@code +dfsg1}: Debian's repack markers). Ordered as semantic
 * versions: numbers first (missing ones are 0), then a release sorts after each of its pre-releases.
 */
public record ReleaseVersion(List<Integer> numbers, String preRelease) implements Comparable<ReleaseVersion> {
    private static final Pattern VERSION =
            Pattern.compile("(\\d+(?:\\.\\d+)*)(?:-([0-9A-Za-z.]+))?(?:\\+[0-9A-Za-z.~-]*)?");

    public ReleaseVersion {
        numbers = List.copyOf(numbers);
    }

    /** Parses {@code 1.1.5+ds1}, {@code v1.4.0-rc.3}, {@code 20.10.24+dfsg1}; a leading {@code v} is allowed. */
    public static ReleaseVersion parse(String text) {
        return find(text).orElseThrow(() -> new IllegalArgumentException("not a version: '" + text + "'"));
    }

    /** The first version number in a line of text, e.g. in {@code runc version 1.1.5+ds1}. */
    public static Optional<ReleaseVersion> find(String text) {
        if (text == null) {
            return Optional.empty();
        }
        Matcher m = VERSION.matcher(text);
        while (m.find()) {
            // a bare number ("spec: 1") is no release; a release has at least major.minor
            if (m.group(1).contains(".")) {
                List<Integer> nums = new ArrayList<>();
                try {
                    for (String part : m.group(1).split("\\.")) {
                        nums.add(Integer.parseInt(part));
                    }
                } catch (NumberFormatException e) {
                    continue; // absurdly long digit run: not a version
                }
                return Optional.of(new ReleaseVersion(nums, m.group(2)));
            }
        }
        return Optional.empty();
    }

    @Override
    public int compareTo(ReleaseVersion o) {
        int n = Math.max(numbers.size(), o.numbers.size());
        for (int i = 0; i < n; i++) {
            int a = i < numbers.size() ? numbers.get(i) : 0;
            int b = i < o.numbers.size() ? o.numbers.get(i) : 0;
            if (a != b) {
                return Integer.compare(a, b);
            }
        }
        if (preRelease == null || o.preRelease == null) {
            return preRelease == null ? (o.preRelease == null ? 0 : 1) : -1;
        }
        return comparePreRelease(preRelease, o.preRelease);
    }

    /** Semver rule: dot-separated identifiers, numeric ones compared as numbers and before alphanumeric ones. */
    private static int comparePreRelease(String a, String b) {
        String[] x = a.split("\\.");
        String[] y = b.split("\\.");
        for (int i = 0; i < Math.min(x.length, y.length); i++) {
            boolean xn = x[i].matches("\\d{1,9}");
            boolean yn = y[i].matches("\\d{1,9}");
            int c;
            if (xn && yn) {
                c = Integer.compare(Integer.parseInt(x[i]), Integer.parseInt(y[i]));
            } else if (xn || yn) {
                c = xn ? -1 : 1;
            } else {
                c = x[i].compareTo(y[i]);
            }
            if (c != 0) {
                return c;
            }
        }
        return Integer.compare(x.length, y.length);
    }

    public boolean isBefore(ReleaseVersion o) {
        return compareTo(o) < 0;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < numbers.size(); i++) {
            sb.append(i == 0 ? "" : ".").append(numbers.get(i));
        }
        return preRelease == null ? sb.toString() : sb + "-" + preRelease;
    }
}
