package io.mcpsandbox.cli;

import java.io.IOException;
import java.io.InputStream;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The file by which a local {@code serve --http} offers itself to {@code exec} on the same machine (as dockerd's
 * socket does to docker): {@code <state dir>/local-endpoint}, root's (or the server's user's) and 0600, holding the
 * server's URL, a random token made at each start that the server accepts as the local user, and the server's pid
 * with its start time (so a file left by a server that died is recognised without a connection attempt).
 *
 * <p>The writer never follows a link (a new file renamed into place); the reader refuses a link, a file of another
 * owner or one that others may read or write, and anything but the exact form written here.
 */
record LocalEndpoint(String url, String token, long pid, long startTime) {
    static final String FILE_NAME = "local-endpoint";
    /** The file is a few lines; anything longer is not ours. */
    private static final int MAX_BYTES = 1024;
    private static final Pattern TOKEN = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern URL = Pattern.compile("http://(127\\.0\\.0\\.1|\\[::1]|[0-9.]{7,15}|\\[[0-9a-fA-F:]+])"
            + ":[0-9]{1,5}");
    private static final Set<PosixFilePermission> OWNER_ONLY = EnumSet.of(PosixFilePermission.OWNER_READ,
            PosixFilePermission.OWNER_WRITE);

    /** Why an endpoint file was not used: said on stderr with --debug. */
    static final class Unusable extends Exception {
        Unusable(String message) {
            super(message, null, false, false);
        }
    }

    /** A fresh random token: 32 bytes from SecureRandom, in hex. */
    static String newToken() {
        byte[] secret = new byte[32];
        new SecureRandom().nextBytes(secret);
        return HexFormat.of().formatHex(secret);
    }

    /** The endpoint of this process serving at {@code url} with {@code token}. */
    static LocalEndpoint ofThisProcess(String url, String token) {
        ProcessHandle self = ProcessHandle.current();
        long start = startTime(self.pid());
        if (start < 0) {
            throw new IllegalStateException("cannot read this process's start time from /proc");
        }
        return new LocalEndpoint(url, token, self.pid(), start);
    }

    /**
     * The URL a local client uses for a server bound to {@code host:port}: loopback for a wildcard address, the
     * address itself otherwise (a host name is resolved here, once).
     */
    static String urlFor(String host, int port) throws UnknownHostException {
        InetAddress address = InetAddress.getByName(host);
        if (address.isAnyLocalAddress()) {
            return "http://" + (address instanceof Inet6Address ? "[::1]" : "127.0.0.1") + ":" + port;
        }
        String literal = address.getHostAddress();
        if (address instanceof Inet6Address) {
            int zone = literal.indexOf('%');
            literal = "[" + (zone < 0 ? literal : literal.substring(0, zone)) + "]";
        }
        return "http://" + literal + ":" + port;
    }

    /** Writes this endpoint as {@code dir/local-endpoint}: a new 0600 file, renamed over whatever was there. */
    void write(Path dir) throws IOException {
        Path target = dir.resolve(FILE_NAME);
        Path temp = dir.resolve(FILE_NAME + "." + pid + ".tmp");
        Files.deleteIfExists(temp);
        String text = "url=" + url + "\ntoken=" + token + "\npid=" + pid + "\nstart=" + startTime + "\n";
        // CREATE_NEW fails on anything already there, a link included: nothing is written through a link.
        try (SeekableByteChannel out = Files.newByteChannel(temp, Set.of(StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                PosixFilePermissions.asFileAttribute(OWNER_ONLY))) {
            out.write(ByteBuffer.wrap(text.getBytes(StandardCharsets.US_ASCII)));
        }
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.deleteIfExists(temp);
            throw e;
        }
    }

    /** Removes {@code dir/local-endpoint} if it is still this endpoint's (another server may have replaced it). */
    void removeFrom(Path dir) {
        try {
            if (read(dir, Preflight.effectiveUid()).token.equals(token)) {
                Files.deleteIfExists(dir.resolve(FILE_NAME));
            }
        } catch (Unusable | IOException e) {
            // not ours, or gone already
        }
    }

    /**
     * The endpoint in {@code dir}, checked: a regular file (not a link) of root or of {@code ourUid}, readable by
     * its owner only, in the exact form {@link #write} makes, of a process that still runs (same pid, same start
     * time). {@code ourUid} -1 accepts root only.
     *
     * @throws Unusable saying why it is not used; nothing is connected to
     */
    static LocalEndpoint read(Path dir, long ourUid) throws Unusable {
        Path file = dir.resolve(FILE_NAME);
        PosixFileAttributes attributes;
        int owner;
        try {
            attributes = Files.readAttributes(file, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            owner = (Integer) Files.getAttribute(file, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new Unusable("no local server (no " + file + ")");
        } catch (IOException | RuntimeException e) {
            throw new Unusable("cannot read " + file + ": " + e.getMessage());
        }
        if (!attributes.isRegularFile()) {
            throw new Unusable(file + " is not a regular file");
        }
        if (owner != 0 && owner != ourUid) {
            throw new Unusable(file + " belongs to uid " + owner + ", neither root nor us");
        }
        if (!OWNER_ONLY.containsAll(attributes.permissions())) {
            throw new Unusable(file + " may be read or written by others (mode "
                    + PosixFilePermissions.toString(attributes.permissions()) + ")");
        }
        Map<String, String> fields = parse(file);
        LocalEndpoint endpoint;
        try {
            endpoint = new LocalEndpoint(fields.get("url"), fields.get("token"), Long.parseLong(fields.get("pid")),
                    Long.parseLong(fields.get("start")));
        } catch (RuntimeException e) {
            throw new Unusable(file + " is not in the form a server writes");
        }
        if (!URL.matcher(endpoint.url).matches() || !TOKEN.matcher(endpoint.token).matches() || endpoint.pid <= 0) {
            throw new Unusable(file + " is not in the form a server writes");
        }
        if (startTime(endpoint.pid) != endpoint.startTime) {
            throw new Unusable("the server that wrote " + file + " (pid " + endpoint.pid + ") is gone");
        }
        return endpoint;
    }

    private static Map<String, String> parse(Path file) throws Unusable {
        byte[] bytes;
        try (SeekableByteChannel channel = Files.newByteChannel(file, StandardOpenOption.READ,
                LinkOption.NOFOLLOW_LINKS); InputStream in = Channels.newInputStream(channel)) {
            bytes = in.readNBytes(MAX_BYTES + 1);
        } catch (IOException e) {
            throw new Unusable("cannot read " + file + ": " + e.getMessage());
        }
        if (bytes.length > MAX_BYTES) {
            throw new Unusable(file + " is larger than a server writes");
        }
        Map<String, String> fields = new LinkedHashMap<>();
        for (String line : new String(bytes, StandardCharsets.US_ASCII).split("\n")) {
            int eq = line.indexOf('=');
            if (eq <= 0 || fields.putIfAbsent(line.substring(0, eq), line.substring(eq + 1)) != null) {
                throw new Unusable(file + " is not in the form a server writes");
            }
        }
        if (!fields.keySet().equals(Set.of("url", "token", "pid", "start"))) {
            throw new Unusable(file + " is not in the form a server writes");
        }
        return fields;
    }

    /** Field 22 of /proc/PID/stat (clock ticks after boot): tells a live process from a later one with its pid. */
    static long startTime(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.US_ASCII);
            // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
            String[] after = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(after[19]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }
}
