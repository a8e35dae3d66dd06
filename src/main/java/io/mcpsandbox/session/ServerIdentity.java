package io.mcpsandbox.session;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Which server process holds a session: {@code <pid>:<start time in ms>@<host>}. With the start time a reused pid
 * is not taken for the old process; with the host, a server sharing the record store with servers on other hosts
 * (cluster mode) never judges their processes by its own process table. An id without a host (written before it
 * was kept) counts as this host's.
 */
final class ServerIdentity {
    private static final Pattern HOST = Pattern.compile("[0-9A-Za-z._-]{1,128}");
    private static final String THIS_HOST = host();

    private ServerIdentity() {
    }

    static String current() {
        ProcessHandle self = ProcessHandle.current();
        return self.pid() + ":" + self.info().startInstant().map(Instant::toEpochMilli).orElse(0L) + "@" + THIS_HOST;
    }

    /** Whether the process named by {@code id} (made by {@link #current}) ran on this host. */
    static boolean onThisHost(String id) {
        int at = id == null ? -1 : id.lastIndexOf('@');
        return at < 0 || id.substring(at + 1).equals(THIS_HOST);
    }

    /** Whether the process named by {@code id} (made by {@link #current}) still runs on this host. */
    static boolean isAlive(String id) {
        if (id == null || !onThisHost(id)) {
            return false;
        }
        int at = id.lastIndexOf('@');
        String local = at < 0 ? id : id.substring(0, at);
        int colon = local.indexOf(':');
        try {
            long pid = Long.parseLong(colon < 0 ? local : local.substring(0, colon));
            long started = colon < 0 ? -1 : Long.parseLong(local.substring(colon + 1));
            Optional<ProcessHandle> process = ProcessHandle.of(pid);
            return process.isPresent() && process.get().isAlive() && process.get().info().startInstant()
                    .map(Instant::toEpochMilli).map(ms -> ms == started).orElse(false);
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /** This machine: its systemd machine id, which a reboot keeps; else its host name. */
    private static String host() {
        try {
            String id = Files.readString(Path.of("/etc/machine-id")).strip();
            if (HOST.matcher(id).matches()) {
                return id;
            }
        } catch (IOException | RuntimeException e) {
            // no machine id: the host name
        }
        String name = System.getenv("HOSTNAME");
        if (name == null) {
            try {
                name = java.net.InetAddress.getLocalHost().getHostName();
            } catch (IOException e) {
                name = "localhost";
            }
        }
        return HOST.matcher(name).matches() ? name : "unknown-host";
    }
}
