package io.mcpsandbox.host;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The host's user and group databases and subordinate id ranges. A sandbox uid range that shares a uid with any
 * of them would let a sandbox's processes and files pass for a host user, or for another user's rootless
 * containers (useradd hands out /etc/subuid and /etc/subgid ranges from 100000 up).
 */
public record HostIdFiles(Path subuid, Path subgid, Path passwd, Path group) {

    public static HostIdFiles system() {
        return new HostIdFiles(Path.of("/etc/subuid"), Path.of("/etc/subgid"), Path.of("/etc/passwd"),
                Path.of("/etc/group"));
    }

    /**
     * The first entry sharing an id with {@code first..last} (inclusive), as one line naming the file, the line
     * and the range; empty when none does. A file that does not exist holds no entry.
     */
    public Optional<String> conflictWith(long first, long last) {
        String range = first + "-" + last;
        Optional<String> found = scan(subuid, first, last, range, Kind.SUBORDINATE);
        if (found.isEmpty()) {
            found = scan(subgid, first, last, range, Kind.SUBORDINATE);
        }
        if (found.isEmpty()) {
            found = scan(passwd, first, last, range, Kind.PASSWD);
        }
        if (found.isEmpty()) {
            found = scan(group, first, last, range, Kind.GROUP);
        }
        return found;
    }

    private enum Kind { SUBORDINATE, PASSWD, GROUP }

    private static Optional<String> scan(Path file, long first, long last, String range, Kind kind) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (NoSuchFileException absent) {
            return Optional.empty();
        } catch (IOException e) {
            // Unreadable: an overlap cannot be ruled out.
            return Optional.of("the sandbox uid range " + range + " cannot be checked against " + file + ": " + e);
        }
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] f = line.split(":", -1);
            boolean overlaps = switch (kind) {
                case SUBORDINATE -> f.length >= 3 && number(f[1]) >= 0 && number(f[2]) > 0
                        && number(f[1]) <= last && number(f[1]) + number(f[2]) - 1 >= first;
                case PASSWD -> f.length >= 4
                        && (within(number(f[2]), first, last) || within(number(f[3]), first, last));
                case GROUP -> f.length >= 3 && within(number(f[2]), first, last);
            };
            if (overlaps) {
                return Optional.of("the sandbox uid range " + range + " (sandbox.uid-base, sandbox.uid-slots) overlaps "
                        + file + " line " + (i + 1) + " '" + printable(line) + "': set sandbox.uid-base to a range no "
                        + "user, group or subordinate id range uses");
            }
        }
        return Optional.empty();
    }

    private static boolean within(long id, long first, long last) {
        return id >= first && id <= last;
    }

    /** A non-negative decimal id, or -1 for anything else (such a line allocates nothing). */
    private static long number(String field) {
        if (field.isEmpty() || field.length() > 10 || !field.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return -1;
        }
        return Long.parseLong(field);
    }

    private static String printable(String line) {
        String shown = line.length() > 120 ? line.substring(0, 120) + "..." : line;
        return shown.replaceAll("[^\\x20-\\x7e]", "?");
    }
}
