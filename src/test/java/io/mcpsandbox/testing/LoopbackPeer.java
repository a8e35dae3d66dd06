package io.mcpsandbox.testing;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.Socket;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;

/**
 * Which host process opened the other end of a connection accepted on the host's IPv4 loopback, read from /proc
 * (this process's network namespace): the peer's socket in /proc/net/tcp, then the process holding it. Used to say
 * who reached a listener, and to tell this test JVM's own connections (a client of an earlier test reconnecting to
 * a port the kernel handed out again) from anything else.
 */
public final class LoopbackPeer {
    private LoopbackPeer() {
    }

    /** A process holding the peer's socket: its pid and command line. */
    public record Owner(long pid, String command) {
        /** This JVM itself. */
        public boolean thisProcess() {
            return pid == ProcessHandle.current().pid();
        }

        @Override
        public String toString() {
            return "pid " + pid + " (" + command + ")";
        }
    }

    /** The owner of {@code accepted}'s other end; empty if it is gone or not found. */
    public static Optional<Owner> of(Socket accepted) {
        if (!(accepted.getInetAddress() instanceof Inet4Address peer) || !peer.isLoopbackAddress()) {
            return Optional.empty();
        }
        byte[] a = peer.getAddress();
        String v4 = String.format(Locale.ROOT, "%02X%02X%02X%02X", a[3], a[2], a[1], a[0]);
        String port = String.format(Locale.ROOT, ":%04X", accepted.getPort());
        try {
            // An IPv4 socket, or a dual-stack IPv6 one (as Java's) holding the address as ::ffff:a.b.c.d.
            Optional<String> inode = inodeOf(Path.of("/proc/net/tcp"), v4 + port)
                    .or(() -> inodeOf(Path.of("/proc/net/tcp6"), "0000000000000000FFFF0000" + v4 + port));
            return inode.isEmpty() ? Optional.empty() : holderOf("socket:[" + inode.get() + "]");
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static Optional<String> inodeOf(Path table, String localAddress) {
        try {
            for (String line : Files.readAllLines(table)) {
                String[] f = line.trim().split("\\s+");
                if (f.length > 9 && f[1].equals(localAddress) && !f[9].equals("0")) {
                    return Optional.of(f[9]);
                }
            }
        } catch (IOException e) {
            // no such table (no IPv6)
        }
        return Optional.empty();
    }

    private static Optional<Owner> holderOf(String socketLink) throws IOException {
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
            for (Path proc : procs) {
                try (DirectoryStream<Path> fds = Files.newDirectoryStream(proc.resolve("fd"))) {
                    for (Path fd : fds) {
                        if (socketLink.equals(readLink(fd))) {
                            long pid = Long.parseLong(proc.getFileName().toString());
                            return Optional.of(new Owner(pid, command(pid)));
                        }
                    }
                } catch (IOException | SecurityException e) {
                    // gone meanwhile, or not ours to read
                }
            }
        }
        return Optional.empty();
    }

    private static String readLink(Path fd) {
        try {
            return Files.readSymbolicLink(fd).toString();
        } catch (IOException | UnsupportedOperationException e) {
            return "";
        }
    }

    private static String command(long pid) {
        String cmdline = ProcessHandle.of(pid).flatMap(h -> h.info().commandLine()).orElse("?");
        return cmdline.length() > 200 ? cmdline.substring(0, 200) + "..." : cmdline;
    }
}
