package io.mcpsandbox.callback;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Signs a callback delivery so its receiver knows it came from this server and was not changed: HMAC-SHA256
 * over {@code timestamp + "." + body} with the shared secret, sent as {@value #SIGNATURE}:
 * {@code sha256=<lowercase hex>}. The timestamp is signed so a receiver can refuse old replays.
 */
public final class CallbackSigner {
    public static final String EXECUTION = "X-Mcp-Sandbox-Execution";
    public static final String TIMESTAMP = "X-Mcp-Sandbox-Timestamp";
    public static final String DELIVERY = "X-Mcp-Sandbox-Delivery";
    public static final String SIGNATURE = "X-Mcp-Sandbox-Signature";
    private static final String ALGORITHM = "HmacSHA256";
    private static final String PREFIX = "sha256=";

    private final SecretKeySpec key;

    public CallbackSigner(byte[] secret) {
        this.key = new SecretKeySpec(secret, ALGORITHM);
    }

    /** The headers of one delivery attempt (attempt numbers start at 1). */
    public Map<String, String> headers(String executionId, long unixSeconds, int attempt, byte[] body) {
        return Map.of(
                EXECUTION, executionId,
                TIMESTAMP, Long.toString(unixSeconds),
                DELIVERY, Integer.toString(attempt),
                SIGNATURE, signature(key, unixSeconds, body));
    }

    /** {@code sha256=<hex>} for this timestamp and body. */
    public String signature(long unixSeconds, byte[] body) {
        return signature(key, unixSeconds, body);
    }

    /**
     * True when {@code signatureHeader} is the signature of {@code timestamp} and {@code body} under
     * {@code secret} (constant-time comparison). Receivers should also refuse a timestamp far from now.
     */
    public static boolean verify(byte[] secret, String timestamp, byte[] body, String signatureHeader) {
        if (timestamp == null || signatureHeader == null || !timestamp.matches("[0-9]{1,19}")) {
            return false;
        }
        long unixSeconds;
        try {
            unixSeconds = Long.parseLong(timestamp);
        } catch (NumberFormatException e) {
            return false;
        }
        byte[] expected = signature(new SecretKeySpec(secret, ALGORITHM), unixSeconds, body)
                .getBytes(StandardCharsets.US_ASCII);
        return MessageDigest.isEqual(expected, signatureHeader.getBytes(StandardCharsets.US_ASCII));
    }

    private static String signature(SecretKeySpec key, long unixSeconds, byte[] body) {
        try {
            Mac mac = Mac.getInstance(ALGORITHM);
            mac.init(key);
            mac.update((unixSeconds + ".").getBytes(StandardCharsets.US_ASCII));
            return PREFIX + HexFormat.of().formatHex(mac.doFinal(body));
        } catch (NoSuchAlgorithmException | InvalidKeyException e) {
            throw new IllegalStateException("HmacSHA256 is part of every Java runtime", e);
        }
    }
}
