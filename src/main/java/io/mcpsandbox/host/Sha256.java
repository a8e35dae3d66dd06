package io.mcpsandbox.host;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/** SHA-256 as lower-case hex, the form OCI digests, Docker image ids and our content tags use. */
public final class Sha256 {
    private Sha256() {
    }

    public static String hex(byte[] data) {
        return hex(List.of(data));
    }

    /** The raw 32-byte hash of the UTF-8 bytes of {@code text} (for constant-time comparison of secrets). */
    public static byte[] digest(String text) {
        return newDigest().digest(text.getBytes(StandardCharsets.UTF_8));
    }

    /** The hash of the UTF-8 bytes of {@code text}. */
    public static String hex(String text) {
        return hex(text.getBytes(StandardCharsets.UTF_8));
    }

    /** The hash of the parts one after the other (no separators: the caller frames them). */
    public static String hex(List<byte[]> parts) {
        MessageDigest sha = newDigest();
        parts.forEach(sha::update);
        return HexFormat.of().formatHex(sha.digest());
    }

    /** The hash of a regular file's content, read in chunks; a symbolic link is refused, not followed. */
    public static String hexOfFile(Path file) throws IOException {
        MessageDigest sha = newDigest();
        try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
            byte[] buffer = new byte[1 << 16];
            int n;
            while ((n = in.read(buffer)) > 0) {
                sha.update(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    private static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JRE", e);
        }
    }
}
