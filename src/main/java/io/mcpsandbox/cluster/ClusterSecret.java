package io.mcpsandbox.cluster;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The shared cluster secret ({@code cluster.secret}). It never leaves this object: Redis holds only proofs of it
 * (HMAC-SHA256 of fixed labels), and {@link #toString()} shows nothing.
 */
public final class ClusterSecret {
    /** The shortest secret accepted: 32 characters (e.g. {@code openssl rand -hex 32} gives 64). */
    public static final int MIN_LENGTH = 32;
    public static final int MAX_LENGTH = 1024;
    private static final String JOIN_LABEL = "mcp-sandbox cluster join proof v1";
    private static final String DRAIN_LABEL = "mcp-sandbox cluster drain v1\n";
    private static final String ENTRY_LABEL = "mcp-sandbox cluster node entry v1\n";

    private final byte[] key;

    private ClusterSecret(byte[] key) {
        this.key = key;
    }

    /** The secret, checked for length; the error never repeats it. */
    public static ClusterSecret of(String secret) {
        if (secret == null || secret.isBlank()) {
            throw new IllegalArgumentException(ClusterSettings.SECRET + " (" + ClusterSettings.SECRET_ENV
                    + ") is not set");
        }
        if (secret.length() < MIN_LENGTH) {
            throw new IllegalArgumentException(ClusterSettings.SECRET + " (" + ClusterSettings.SECRET_ENV + "): at "
                    + "least " + MIN_LENGTH + " characters; got " + secret.length() + " (make one with "
                    + "'openssl rand -hex 32')");
        }
        if (secret.length() > MAX_LENGTH) {
            throw new IllegalArgumentException(ClusterSettings.SECRET + ": at most " + MAX_LENGTH + " characters");
        }
        return new ClusterSecret(secret.getBytes(StandardCharsets.UTF_8));
    }

    /** What the cluster's meta key holds to show the secret: the same for every node that has it. */
    public String joinProof() {
        return hmac(JOIN_LABEL);
    }

    /** The value of a drain flag for this node: only a holder of the secret can write one the node obeys. */
    public String drainProof(String nodeId) {
        return hmac(DRAIN_LABEL + nodeId);
    }

    /**
     * The signature of a node's entry: its fields in a fixed order, each with its length (so no value can shift
     * into the next). An entry written without the secret does not carry it and is listed {@code invalid}.
     */
    public String entrySignature(java.util.List<String> fields) {
        StringBuilder canonical = new StringBuilder(ENTRY_LABEL);
        for (String f : fields) {
            String v = f == null ? "" : f;
            canonical.append(f == null ? -1 : v.length()).append(':').append(v).append('\n');
        }
        return hmac(canonical.toString());
    }

    /** Compares a proof read from Redis (any garbage) with the expected one in constant time. */
    static boolean matches(String expected, String found) {
        return found != null && MessageDigest.isEqual(expected.getBytes(StandardCharsets.UTF_8),
                found.getBytes(StandardCharsets.UTF_8));
    }

    private String hmac(String label) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return HexFormat.of().formatHex(mac.doFinal(label.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException | InvalidKeyException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }

    @Override
    public String toString() {
        return "ClusterSecret[***]";
    }
}
