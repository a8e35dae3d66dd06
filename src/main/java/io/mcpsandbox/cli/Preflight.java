package io.mcpsandbox.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What a command needs before it starts, checked up front so the answer is one line instead of a stack trace. */
final class Preflight {
    private Preflight() {
    }

    /**
     * Sandboxes need root: runc and runsc create namespaces, cgroups and mounts, and map a private range of host
     * uids. No rootless mode exists yet.
     */
    static void requireRoot(String command) {
        long euid = effectiveUid();
        if (euid > 0) {
            throw new Failures.UserError(command + " needs root (runc and runsc create namespaces, cgroups and "
                    + "mounts, and map host uids): run it with sudo", 1);
        }
    }

    /**
     * Fails fast when the --http address cannot be bound, before runtimes are checked (which takes seconds).
     * The server binds again later; this only turns the common mistake into an early, clear line.
     */
    static void requirePortFree(String host, int port) {
        try (java.net.ServerSocket probe = new java.net.ServerSocket()) {
            probe.setReuseAddress(true);
            probe.bind(new java.net.InetSocketAddress(host, port));
        } catch (IOException e) {
            throw new Failures.UserError("cannot listen on " + host + ":" + port + " (" + e.getMessage()
                    + "): stop what uses that port or pick another with --http HOST:PORT", 1);
        }
    }

    /** The effective uid from /proc/self/status; -1 when unknown (then the command tries and reports). */
    static long effectiveUid() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return Long.parseLong(line.substring(4).strip().split("\\s+")[1]);
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or /proc hidden
        }
        return -1;
    }
}
