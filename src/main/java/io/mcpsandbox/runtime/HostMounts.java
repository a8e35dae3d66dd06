package io.mcpsandbox.runtime;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** What the host's mount table says about a directory bound into sandboxes. */
public final class HostMounts {
    private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");

    private HostMounts() {
    }

    /**
     * Mount points strictly below {@code dir}, relative to it, parents before children: a bind that must be
     * read-only as a whole has to cover each of them where the runtime cannot do it recursively.
     */
    public static List<String> submountsUnder(Path dir) {
        return submountsUnder(List.of(dir)).get(0);
    }

    /** {@link #submountsUnder(Path)} for each of {@code dirs}, in order, from one read of the mount table. */
    public static List<List<String>> submountsUnder(List<Path> dirs) {
        try {
            List<String> mountinfo = Files.readAllLines(MOUNTINFO);
            List<List<String>> all = new ArrayList<>();
            for (Path dir : dirs) {
                all.add(submountsUnder(dir.toRealPath(), mountinfo));
            }
            return all;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the host's mount table for " + dirs + ": " + e.getMessage(), e);
        }
    }

    static List<String> submountsUnder(Path dir, List<String> mountinfo) {
        String prefix = dir.toString().equals("/") ? "/" : dir + "/";
        List<String> found = new ArrayList<>();
        for (String line : mountinfo) {
            String[] fields = line.split(" ");
            if (fields.length < 5) {
                continue;
            }
            String point = unescape(fields[4]);
            if (point.startsWith(prefix) && point.length() > prefix.length()
                    && !found.contains(point.substring(prefix.length()))) {
                found.add(point.substring(prefix.length()));
            }
        }
        found.sort(Comparator.comparingInt((String p) -> p.split("/").length).thenComparing(Comparator.naturalOrder()));
        return List.copyOf(found);
    }

    /** mountinfo writes space, tab, newline and backslash as octal escapes. */
    static String unescape(String field) {
        StringBuilder out = new StringBuilder(field.length());
        for (int i = 0; i < field.length(); i++) {
            char c = field.charAt(i);
            if (c == '\\' && i + 3 < field.length() && field.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                out.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
