package io.mcpsandbox.scan;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Random;

/**
 * Test material. Token-shaped values are assembled at run time so that this source file does not itself look like
 * a leaked credential to repository secret scanners.
 */
final class Secrets {
    static final String AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE";
    static final String AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY";
    static final String VISA = "4111111111111111";
    static final String VISA_SPACED = "4111 1111 1111 1111";
    static final String VISA_DASHED = "4111-1111-1111-1111";
    static final String AMEX = "3782 822463 10005";
    static final String MASTERCARD = "5555555555554444";
    static final String DISCOVER = "6011111111111117";
    static final String SSN = "078-05-1120";
    static final String RANDOM_KEY_40 = "Zx9Lk2PqR7tYw3VbN8mJ" + "cH5gF1dS6aE4uI0oKzXy";
    /** Not 40 base64 characters, so never taken for an AWS secret key whatever the context. */
    static final String RANDOM_KEY_URLSAFE = "q8Zr-Tn3_Vb6Hw9Ky2Lm" + "5Px7Qa1Sd4Fg0Jk";

    static final String GITHUB_PAT_CLASSIC = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
    static final String GITHUB_FINE_GRAINED = "github_pat_" + "11ABCDEFG0123456789abc_"
            + "defGHIjklMNOpqrSTUvwxYZ0123456789abcdefGHIJKLmnopQRstuVWxyz01";
    static final String GITLAB = "glpat-" + "xY3zAb9Cd7Ef5Gh1Ij2K";
    static final String SLACK_BOT = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx";
    static final String SLACK_WEBHOOK = "https://hooks.slack.com/services/"
            + "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";
    static final String STRIPE_LIVE = "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc";
    static final String STRIPE_TEST = "sk_" + "test_" + "4eC39HqLyjWDarjtT1zdp7dc";
    static final String JWT = b64url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}") + "."
            + b64url("{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"iat\":1516239022}") + "."
            + "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    static final String PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\n"
            + "MIIEowIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aumHMWy7UN0ZQf7vQKP4ZT6qYq\n"
            + "oHQ2JlVXlZnN5TrxUkRJPyO0zfIYlNv3Xz5/KUZ6Lh0cNHDaJfg9kSy4yYk3qM0N\n"
            + "-----END RSA PRIVATE KEY-----";

    private Secrets() {
    }

    static String b64url(String text) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }

    static String b64(String text) {
        return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }

    static String hex(Random random, int chars) {
        StringBuilder sb = new StringBuilder(chars);
        for (int i = 0; i < chars; i++) {
            sb.append("0123456789abcdef".charAt(random.nextInt(16)));
        }
        return sb.toString();
    }

    static String randomKey(Random random, int chars, String alphabet) {
        StringBuilder sb = new StringBuilder(chars);
        for (int i = 0; i < chars; i++) {
            sb.append(alphabet.charAt(random.nextInt(alphabet.length())));
        }
        return sb.toString();
    }

    static final String BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
}
