package io.mcpsandbox.callback;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;

class CallbackSignerTest {
    private static final byte[] SECRET = "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.UTF_8);
    private static final byte[] BODY =
            "{\"executionId\":\"e1\",\"status\":\"completed\"}".getBytes(StandardCharsets.UTF_8);

    @Test
    void signsTimestampDotBodyWithHmacSha256() throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(SECRET, "HmacSHA256"));
        byte[] expected = mac.doFinal(("1700000000." + new String(BODY, StandardCharsets.UTF_8))
                .getBytes(StandardCharsets.UTF_8));

        Map<String, String> headers = new CallbackSigner(SECRET).headers("e1", 1_700_000_000L, 3, BODY);

        assertThat(headers).containsExactlyInAnyOrderEntriesOf(Map.of(
                "X-Mcp-Sandbox-Execution", "e1",
                "X-Mcp-Sandbox-Timestamp", "1700000000",
                "X-Mcp-Sandbox-Delivery", "3",
                "X-Mcp-Sandbox-Signature", "sha256=" + HexFormat.of().formatHex(expected)));
    }

    @Test
    void aKnownVector() {
        // Computed independently: printf '1.{}' | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
        assertThat(new CallbackSigner(SECRET).signature(1, "{}".getBytes(StandardCharsets.UTF_8)))
                .isEqualTo("sha256=1642a706b2e4d9fa8663449a8826d942c133b097231992683d5a44c2afc57499");
    }

    @Test
    void verifyAcceptsTheSignatureAndRefusesAnyChange() {
        String signature = new CallbackSigner(SECRET).signature(1_700_000_000L, BODY);
        assertThat(CallbackSigner.verify(SECRET, "1700000000", BODY, signature)).isTrue();

        assertThat(CallbackSigner.verify(SECRET, "1700000001", BODY, signature)).isFalse();
        byte[] changed = BODY.clone();
        changed[5] ^= 1;
        assertThat(CallbackSigner.verify(SECRET, "1700000000", changed, signature)).isFalse();
        byte[] otherSecret = SECRET.clone();
        otherSecret[0] ^= 1;
        assertThat(CallbackSigner.verify(otherSecret, "1700000000", BODY, signature)).isFalse();
        assertThat(CallbackSigner.verify(SECRET, "1700000000", BODY, signature.toUpperCase())).isFalse();
        assertThat(CallbackSigner.verify(SECRET, "1700000000", BODY, signature.substring(7))).isFalse();
        assertThat(CallbackSigner.verify(SECRET, "1700000000", BODY, null)).isFalse();
        assertThat(CallbackSigner.verify(SECRET, "-1", BODY, signature)).isFalse();
        assertThat(CallbackSigner.verify(SECRET, "99999999999999999999", BODY, signature)).isFalse();
        assertThat(CallbackSigner.verify(SECRET, "17e8", BODY, signature)).isFalse();
    }
}
