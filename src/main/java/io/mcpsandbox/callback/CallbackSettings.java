package io.mcpsandbox.callback;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.network.NameResolver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;

/**
 * How results are called back: which hosts a {@code callbackUrl} may name, how often and how long a delivery is
 * tried, and the HMAC key that signs each one. See docs/callbacks.md.
 *
 * @param allowedHosts exact names, {@code *.example.org} wildcards and IP literals (canonical form); empty:
 *                     every callback URL is refused
 * @param maxAttempts  attempts per delivery before it is given up
 * @param timeout      per attempt: connect, idle and total
 * @param secret       the HMAC-SHA256 key (never logged; {@link #toString} leaves it out)
 */
public record CallbackSettings(List<String> allowedHosts, int maxAttempts, Duration timeout, byte[] secret) {
    public static final String ALLOWED_HOSTS = "callbacks.allowed-hosts";
    public static final String MAX_ATTEMPTS = "callbacks.max-attempts";
    public static final String TIMEOUT = "callbacks.timeout";
    public static final String SECRET = "callbacks.secret";
    /** The generated key's file in the data directory, when {@value #SECRET} is not set. */
    public static final String KEY_FILE = "callback.key";

    static final int MIN_SECRET_BYTES = 16;
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");

    public CallbackSettings {
        allowedHosts = List.copyOf(allowedHosts);
        if (maxAttempts < 1 || maxAttempts > 100) {
            throw new IllegalArgumentException(MAX_ATTEMPTS + ": expected 1 to 100; got " + maxAttempts);
        }
        if (timeout.compareTo(Duration.ofMillis(100)) < 0 || timeout.compareTo(Duration.ofMinutes(5)) > 0) {
            throw new IllegalArgumentException(TIMEOUT + ": expected 100ms to 5m; got " + timeout);
        }
        if (secret.length < MIN_SECRET_BYTES) {
            throw new IllegalArgumentException(SECRET + ": at least " + MIN_SECRET_BYTES + " bytes");
        }
        secret = secret.clone();
    }

    /**
     * Reads the {@code callbacks.*} settings. Without {@value #SECRET}, the key is {@code <dataDir>/callback.key}:
     * 32 random bytes written once as 64 hex characters (the key is that text, so clients use it as written).
     */
    public static CallbackSettings from(Settings settings, Path dataDir) {
        List<String> hosts = parseAllowedHosts(settings.string(ALLOWED_HOSTS, ""));
        int maxAttempts = settings.integer(MAX_ATTEMPTS, "8");
        Duration timeout = settings.duration(TIMEOUT, "10s");
        String configured = settings.string(SECRET, "");
        byte[] secret;
        if (!configured.isEmpty()) {
            secret = configured.getBytes(StandardCharsets.UTF_8);
            if (secret.length < MIN_SECRET_BYTES) {
                throw new IllegalArgumentException(SECRET + ": at least " + MIN_SECRET_BYTES + " bytes");
            }
        } else {
            secret = keyFromFile(dataDir.resolve(KEY_FILE));
        }
        return new CallbackSettings(hosts, maxAttempts, timeout, secret);
    }

    @Override
    public byte[] secret() {
        return secret.clone();
    }

    @Override
    public String toString() {
        return "CallbackSettings[allowedHosts=" + allowedHosts + ", maxAttempts=" + maxAttempts
                + ", timeout=" + timeout + ", secret=(hidden)]";
    }

    static List<String> parseAllowedHosts(String value) {
        List<String> hosts = new ArrayList<>();
        for (String raw : value.split(",")) {
            String entry = raw.trim();
            if (entry.isEmpty()) {
                continue;
            }
            try {
                hosts.add(normalizeAllowedHost(entry));
            } catch (IllegalArgumentException e) {
                String shown = entry.length() > 100 ? entry.substring(0, 100) + "..." : entry;
                throw new IllegalArgumentException(ALLOWED_HOSTS + ": bad entry '" + shown + "': " + e.getMessage());
            }
        }
        return hosts;
    }

    private static String normalizeAllowedHost(String entry) {
        if (entry.startsWith("*.")) {
            String suffix = entry.substring(2);
            if (NameResolver.isLiteral(suffix)) {
                throw new IllegalArgumentException("a wildcard covers names, not addresses");
            }
            return "*." + NameResolver.normalizeName(suffix);
        }
        if (entry.contains("*")) {
            throw new IllegalArgumentException("only a leading '*.' wildcard is supported (not '*' alone)");
        }
        InetAddress literal = NameResolver.parseLiteral(entry);
        return literal != null ? literal.getHostAddress() : NameResolver.normalizeName(entry);
    }

    private static byte[] keyFromFile(Path file) {
        try {
            Files.createDirectories(file.getParent());
            try {
                byte[] text = HexFormat.of().formatHex(randomKey()).getBytes(StandardCharsets.US_ASCII);
                // CREATE_NEW never follows a link: a link planted at the path makes it fail, as an existing file does.
                try (SeekableByteChannel channel = Files.newByteChannel(file,
                        Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                        PosixFilePermissions.asFileAttribute(OWNER_ONLY))) {
                    channel.write(ByteBuffer.wrap(text));
                }
                return text;
            } catch (FileAlreadyExistsException e) {
                return readKey(file);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Could not read or create the callback key " + file, e);
        }
    }

    private static byte[] randomKey() {
        byte[] key = new byte[32];
        new SecureRandom().nextBytes(key);
        return key;
    }

    private static byte[] readKey(Path file) throws IOException {
        PosixFileAttributes attributes = Files.readAttributes(file, PosixFileAttributes.class,
                LinkOption.NOFOLLOW_LINKS);
        if (!attributes.isRegularFile()) {
            throw new IllegalStateException(file + " must be a regular file (not a link): the callback key");
        }
        if (!OWNER_ONLY.containsAll(attributes.permissions())) {
            throw new IllegalStateException(file + " is readable by others: chmod 600 it (the callback key)");
        }
        if (attributes.size() > 4096) {
            throw new IllegalStateException(file + " is too large for a callback key");
        }
        byte[] text;
        try (SeekableByteChannel channel = Files.newByteChannel(file,
                Set.of(StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS))) {
            ByteBuffer buffer = ByteBuffer.allocate(4097);
            while (channel.read(buffer) > 0 && buffer.hasRemaining()) {
                // read it all
            }
            text = new String(buffer.array(), 0, buffer.position(), StandardCharsets.UTF_8).strip()
                    .getBytes(StandardCharsets.UTF_8);
        }
        if (text.length < MIN_SECRET_BYTES) {
            throw new IllegalStateException(file + " holds fewer than " + MIN_SECRET_BYTES + " bytes of key");
        }
        return text;
    }
}
