package io.mcpsandbox.runtime.docker;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Who owns a container: {@code <pid>:<start time in clock ticks since boot>:<boot id>}. A container whose
 * owner's pid no longer runs with that start time, or that was created before the last boot, belongs to a
 * dead process (a pid alone could have been reused).
 */
record OwnerId(long pid, long startTicks, String bootId) {
    static OwnerId self() {
        long pid = ProcessHandle.current().pid();
        return new OwnerId(pid, startTicks(pid).orElse(0L), currentBootId());
    }

    static Optional<OwnerId> parse(String label) {
        if (label == null) {
            return Optional.empty();
        }
        String[] parts = label.split(":", 3);
        try {
            return parts.length == 3
                    ? Optional.of(new OwnerId(Long.parseLong(parts[0]), Long.parseLong(parts[1]), parts[2]))
                    : Optional.empty();
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    String label() {
        return pid + ":" + startTicks + ":" + bootId;
    }

    /** Whether the owner still runs (on this host: a container of another host's owner is never ours). */
    boolean alive() {
        return bootId.equals(currentBootId()) && startTicks(pid).map(t -> t == startTicks).orElse(false);
    }

    static String currentBootId() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip();
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** Field 22 of /proc/PID/stat (after the command name, which may hold spaces and parentheses). */
    static Optional<Long> startTicks(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String[] rest = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Optional.of(Long.parseLong(rest[19]));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }
}
