package io.mcpsandbox.session;

import java.time.Instant;
import java.util.Optional;

/**
 * Which server process holds a session: {@code <pid>:<start time in ms>}. With the start time a reused pid is
 * not taken for the old process.
 */
final class ServerIdentity {
    private ServerIdentity() {
    }

    static String current() {
        ProcessHandle self = ProcessHandle.current();
        return self.pid() + ":" + self.info().startInstant().map(Instant::toEpochMilli).orElse(0L);
    }

    /** Whether the process named by {@code id} (made by {@link #current}) still runs on this host. */
    static boolean isAlive(String id) {
        if (id == null) {
            return false;
        }
        int colon = id.indexOf(':');
        try {
            long pid = Long.parseLong(colon < 0 ? id : id.substring(0, colon));
            long started = colon < 0 ? -1 : Long.parseLong(id.substring(colon + 1));
            Optional<ProcessHandle> process = ProcessHandle.of(pid);
            return process.isPresent() && process.get().isAlive() && process.get().info().startInstant()
                    .map(Instant::toEpochMilli).map(ms -> ms == started).orElse(false);
        } catch (NumberFormatException e) {
            return false;
        }
    }
}
