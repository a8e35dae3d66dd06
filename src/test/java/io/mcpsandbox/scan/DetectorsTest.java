package io.mcpsandbox.scan;

import static io.mcpsandbox.scan.Secrets.AMEX;
import static io.mcpsandbox.scan.Secrets.AWS_KEY_ID;
import static io.mcpsandbox.scan.Secrets.AWS_SECRET;
import static io.mcpsandbox.scan.Secrets.BASE62;
import static io.mcpsandbox.scan.Secrets.DISCOVER;
import static io.mcpsandbox.scan.Secrets.GITHUB_FINE_GRAINED;
import static io.mcpsandbox.scan.Secrets.GITHUB_PAT_CLASSIC;
import static io.mcpsandbox.scan.Secrets.GITLAB;
import static io.mcpsandbox.scan.Secrets.JWT;
import static io.mcpsandbox.scan.Secrets.MASTERCARD;
import static io.mcpsandbox.scan.Secrets.PRIVATE_KEY;
import static io.mcpsandbox.scan.Secrets.RANDOM_KEY_40;
import static io.mcpsandbox.scan.Secrets.RANDOM_KEY_URLSAFE;
import static io.mcpsandbox.scan.Secrets.SLACK_BOT;
import static io.mcpsandbox.scan.Secrets.SLACK_WEBHOOK;
import static io.mcpsandbox.scan.Secrets.SSN;
import static io.mcpsandbox.scan.Secrets.STRIPE_LIVE;
import static io.mcpsandbox.scan.Secrets.STRIPE_TEST;
import static io.mcpsandbox.scan.Secrets.VISA;
import static io.mcpsandbox.scan.Secrets.VISA_DASHED;
import static io.mcpsandbox.scan.Secrets.VISA_SPACED;
import static io.mcpsandbox.scan.Secrets.b64;
import static io.mcpsandbox.scan.Secrets.b64url;
import static io.mcpsandbox.scan.Secrets.hex;
import static io.mcpsandbox.scan.Secrets.randomKey;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

import io.mcpsandbox.model.SecurityEvent.Severity;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Each detector, positive and negative, with exact offsets. */
class DetectorsTest {
    private final OutputScanner scanner = new OutputScanner();

    private List<Finding> scan(String text) {
        return scanner.findings(text);
    }

    /** The only finding in {@code before + secret + after} is {@code type} exactly over the secret. */
    private void findsExactly(DetectorType type, String before, String secret, String after) {
        String text = before + secret + after;
        assertThat(scan(text)).as(text).extracting(Finding::type, Finding::start, Finding::end)
                .containsExactly(tuple(type, before.length(), before.length() + secret.length()));
    }

    private void findsNothing(String text) {
        assertThat(scan(text)).as(text).isEmpty();
    }

    // --- SSN -------------------------------------------------------------------------------------------------

    @Test
    void ssnInProse() {
        findsExactly(DetectorType.SSN, "employee ssn: ", SSN, ", on file");
        findsExactly(DetectorType.SSN, "", "123-45-6789", "");
    }

    @ParameterizedTest
    @ValueSource(strings = {"000-12-3456", "666-12-3456", "900-12-3456", "999-99-9999", "123-00-4567", "123-45-0000"})
    void ssnInvalidRangesDoNotFire(String invalid) {
        findsNothing("ssn " + invalid + " end");
    }

    @ParameterizedTest
    @ValueSource(strings = {"123456789", "123-45-67890", "1123-45-6789", "123-45-6789-01", "1-123-45-6789",
            "x123-45-6789", "123-45-6789z", "2024-01-15", "555-123-4567", "0.123-45-6789"})
    void ssnLookalikesDoNotFire(String text) {
        assertThat(scan("value " + text + " end")).extracting(Finding::type).doesNotContain(DetectorType.SSN);
    }

    // --- cards -----------------------------------------------------------------------------------------------

    @Test
    void cardsPassingLuhnWithAPlausibleIssuerFire() {
        for (String card : List.of(VISA, VISA_SPACED, VISA_DASHED, AMEX, MASTERCARD, DISCOVER,
                "4222222222222", "3530111333300000", "30569309025904")) {
            findsExactly(DetectorType.CREDIT_CARD, "card: ", card, " exp 12/29");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"4111111111111112", "4111 1111 1111 1112", "5555555555554443", "378282246310006"})
    void luhnFailuresDoNotFire(String card) {
        findsNothing("card: " + card + " thanks");
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "1234567812345670",          // passes Luhn, no issuer starts with 1
        "1700000000000",             // epoch milliseconds
        "0.4111111111111111",        // the fraction of a float
        "4111111111111111.5",        // the integer part of a float
        "41111111111111111111",      // 20 digits
        "4111 111 1111 11111",       // not grouped like a card
        "4111 1111-1111 1111",       // mixed separators
        "id4111111111111111",        // glued to a word
        "4111111111111111abc",
    })
    void cardLookalikesDoNotFire(String text) {
        assertThat(scan("x " + text + " y")).extracting(Finding::type).doesNotContain(DetectorType.CREDIT_CARD);
    }

    @Test
    void aCardInsideALongerRunOfNumbersIsFound() {
        String text = "order 12 " + VISA_SPACED + " ok";
        assertThat(scan(text)).containsExactly(new Finding(DetectorType.CREDIT_CARD, 9, 9 + VISA_SPACED.length()));
    }

    @Test
    void aLongSequenceOfNumbersIsScannedInLinearTime() {
        StringBuilder sb = new StringBuilder();
        while (sb.length() < 2_000_000) {
            sb.append("1234 ");
        }
        assertThat(scan(sb.toString())).isEmpty();
    }

    // --- AWS -------------------------------------------------------------------------------------------------

    @Test
    void awsAccessKeyId() {
        findsExactly(DetectorType.AWS_ACCESS_KEY, "aws_access_key_id = ", AWS_KEY_ID, "\n");
        findsExactly(DetectorType.AWS_ACCESS_KEY, "\"", "ASIA" + "Y34FZKBOKMUTVV7A", "\"");
        findsNothing("AKIA" + "IOSFODNN7EXAMPL");          // 19 chars
        findsNothing("AKIA" + "IOSFODNN7EXAMPLEX");        // 21 chars
        findsNothing("XAKIA" + "IOSFODNN7EXAMPLE");        // glued
        findsNothing("AKIA" + "iosfodnn7example");         // lower case
    }

    @Test
    void awsSecretKeyNeedsContext() {
        findsExactly(DetectorType.AWS_SECRET_KEY, "aws_secret_access_key = ", AWS_SECRET, "\n");
        findsExactly(DetectorType.AWS_SECRET_KEY, "{\"SecretAccessKey\": \"", AWS_SECRET, "\"}");
        // next to an access key id, with no context word
        String text = "creds " + AWS_KEY_ID + " " + AWS_SECRET;
        assertThat(scan(text)).extracting(Finding::type)
                .containsExactly(DetectorType.AWS_ACCESS_KEY, DetectorType.AWS_SECRET_KEY);
        // without context it is only a high-entropy string (its severity is lower)
        assertThat(scan("the value " + AWS_SECRET + " here")).extracting(Finding::type)
                .containsExactly(DetectorType.HIGH_ENTROPY);
        assertThat(scan("aws secret " + "da39a3ee5e6b4b0d3255bfef95601890afd80709")).isEmpty();
        // "key" alone is not AWS context
        assertThat(scan("api_key=" + AWS_SECRET)).extracting(Finding::type).containsExactly(DetectorType.HIGH_ENTROPY);
    }

    // --- private keys ----------------------------------------------------------------------------------------

    @Test
    void privateKeyBlocksAreFoundWhole() {
        findsExactly(DetectorType.PRIVATE_KEY, "key:\n", PRIVATE_KEY, "\ndone");
        for (String label : List.of("PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
                "PGP PRIVATE KEY BLOCK", "DSA PRIVATE KEY")) {
            String block = "-----BEGIN " + label + "-----\nabc\n-----END " + label + "-----";
            findsExactly(DetectorType.PRIVATE_KEY, "x\n", block, "\ny");
        }
    }

    @Test
    void aTruncatedPrivateKeyIsFoundToTheEnd() {
        String text = "out\n-----BEGIN OPENSSH PRIVATE KEY-----\n"
                + "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAA";
        assertThat(scan(text)).containsExactly(new Finding(DetectorType.PRIVATE_KEY, 4, text.length()));
    }

    @Test
    void certificatesAndPublicKeysAreNotSecrets() {
        String cert = "-----BEGIN CERTIFICATE-----\n"
                + "MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n"
                + "RTESMBAGA1UEChMJQmFsdGltb3JlMRMwEQYDVQQLEwpDeWJlclRydXN0MSIwIAYD\n"
                + "-----END CERTIFICATE-----\n-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
                + "-----END PUBLIC KEY-----";
        findsNothing(cert);
    }

    // --- tokens ----------------------------------------------------------------------------------------------

    @Test
    void gitHubTokens() {
        for (String prefix : List.of("ghp_", "gho_", "ghu_", "ghs_", "ghr_")) {
            findsExactly(DetectorType.GITHUB_TOKEN, "GITHUB_TOKEN=", prefix + GITHUB_PAT_CLASSIC.substring(4), "\n");
        }
        findsExactly(DetectorType.GITHUB_TOKEN, "token: ", GITHUB_FINE_GRAINED, " ");
        findsNothing("ghp_" + "tooShort123");
        findsNothing("ghx_" + GITHUB_PAT_CLASSIC.substring(4).toLowerCase());
    }

    @Test
    void gitLabTokens() {
        findsExactly(DetectorType.GITLAB_TOKEN, "PRIVATE-TOKEN: ", GITLAB, "\n");
        findsExactly(DetectorType.GITLAB_TOKEN, "", GITLAB + ".01.1a2b3c4d5", " ");
        findsNothing("glpat-" + "short");
    }

    @Test
    void slackTokensAndWebhooks() {
        findsExactly(DetectorType.SLACK_TOKEN, "SLACK=", SLACK_BOT, "\n");
        findsExactly(DetectorType.SLACK_TOKEN, "", "xoxp-" + "9876543210-abcdefghij", "");
        findsNothing("xoxz-" + "123456789012-1234567890123");
        findsNothing("xoxb-" + "abcdefghijklmnop"); // no digit: prose, not a token
        findsExactly(DetectorType.SLACK_WEBHOOK, "POST ", SLACK_WEBHOOK, " 200");
        findsNothing("see https://hooks.slack.com/services/ for docs");
    }

    @Test
    void stripeKeysLiveIsCriticalTestIsMedium() {
        assertThat(scan("k=" + STRIPE_LIVE)).containsExactly(
                new Finding(DetectorType.STRIPE_KEY, 2, 2 + STRIPE_LIVE.length(), Severity.CRITICAL));
        assertThat(scan("k=" + STRIPE_TEST)).containsExactly(
                new Finding(DetectorType.STRIPE_KEY, 2, 2 + STRIPE_TEST.length(), Severity.MEDIUM));
        findsExactly(DetectorType.STRIPE_KEY, "", "rk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc", "");
        findsNothing("pk_" + "live_" + "notasecretpublishable"); // publishable keys are public
        findsNothing("task_live_" + "4eC39HqLyjWDarjt");
    }

    @Test
    void jwtsWhoseHeaderHasAnAlg() {
        findsExactly(DetectorType.JWT, "Authorization: Bearer ", JWT, "\n");
        String unsigned = b64url("{\"alg\":\"none\"}") + "." + b64url("{\"sub\":\"x\"}") + ".";
        findsExactly(DetectorType.JWT, "t=", unsigned, " ");
        // eyJ... that is JSON without "alg" (e.g. any base64 of a JSON object) is not a JWT
        String notJwt = b64url("{\"name\":\"value\",\"x\":1}") + "." + b64url("{\"a\":1}") + ".sig";
        assertThat(scan(notJwt)).extracting(Finding::type).doesNotContain(DetectorType.JWT);
    }

    // --- generic high entropy --------------------------------------------------------------------------------

    @Test
    void aRandomMixedKeyFires() {
        findsExactly(DetectorType.HIGH_ENTROPY, "api_key: ", RANDOM_KEY_40, "\n");
        findsExactly(DetectorType.HIGH_ENTROPY, "", RANDOM_KEY_40, "");
        findsExactly(DetectorType.HIGH_ENTROPY, "X-Api-Key=", RANDOM_KEY_URLSAFE, "");
    }

    @Test
    void nearlyAllRandomKeysFire() {
        java.util.Random random = new java.util.Random(42);
        int fired = 0;
        int trials = 2000;
        for (int i = 0; i < trials; i++) {
            String key = randomKey(random, 40, BASE62);
            if (scan("key " + key + " end").stream().anyMatch(f -> f.type() == DetectorType.HIGH_ENTROPY)) {
                fired++;
            }
        }
        assertThat(fired).isGreaterThanOrEqualTo(trials * 99 / 100);
    }

    @Test
    void hexHashesUuidsAndCommitIdsDoNotFire() {
        java.util.Random random = new java.util.Random(7);
        StringBuilder log = new StringBuilder();
        for (int i = 0; i < 500; i++) {
            log.append("commit ").append(hex(random, 40)).append('\n')
                    .append("sha256:").append(hex(random, 64)).append(" md5=").append(hex(random, 32)).append('\n')
                    .append("SHA1 ").append(hex(random, 40).toUpperCase()).append('\n')
                    .append("request-id ").append(UUID.randomUUID()).append(' ')
                    .append(UUID.randomUUID().toString().toUpperCase()).append(' ')
                    .append(UUID.randomUUID().toString().replace("-", "")).append('\n');
        }
        findsNothing(log.toString());
    }

    @Test
    void base64OfOrdinaryTextDoesNotFire() {
        for (String prose : List.of(
                "The quick brown fox jumps over the lazy dog and keeps running far away.",
                "Hello World, this is a simple test string that someone encoded for transport.",
                "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor 2024.",
                "{\"user\":\"alice\",\"role\":\"admin\",\"created\":\"2024-05-01T10:00:00Z\"}",
                "Grüße aus München: Straße, Käse und Brötchen für alle 42 Gäste!")) {
            findsNothing("payload " + b64(prose) + " end");
            findsNothing("payload=" + b64url(prose) + "&x=1");
            findsNothing("data: " + b64(prose).substring(1, 41) + "\n"); // cut mid-quantum
        }
    }

    @Test
    void identifiersPathsAndDigestsDoNotFire() {
        findsNothing(
                "at com.example.AbstractSingletonProxyFactoryBean2.getUserAccountDetailsForRegion2Async(X.java:42)");
        findsNothing("testShouldReturnHttp404WhenUserNotFound PASSED");
        findsNothing("X509TrustManagerFactoryImplementationV2 loaded");
        findsNothing("/usr/lib/jvm/Temurin-25-jdk-amd64/bin/java -Xmx512m");
        findsNothing("src/main/Java2/io/McpSandbox/Scan3/OutputScanner.java");
        findsNothing("\"integrity\": \"sha512-"
                + "Dz2hL1HyDq7Wr4EbKpPuAR4Y+0K8sJgXqN3vF6tM9oZ1cB5aG7eH2iW4jQ0kR8lS3nT6uV9wX1yY2zA4bC5dE7==\"");
        findsNothing("MCP_SANDBOX_POLICY_RULES_REPORT_ONLY_2=x");
        findsNothing("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1A");
    }

    @Test
    void thresholdIsAboveTheMaximumEntropyOfHex() {
        for (int len = TextScanner.ENTROPY_MIN_LENGTH; len <= 512; len++) {
            assertThat(TextScanner.threshold(len)).isGreaterThanOrEqualTo(4.0); // hex carries at most log2(16) = 4
        }
        assertThat(TextScanner.threshold(36)).isGreaterThan(Math.log(17) / Math.log(2)); // a UUID's 17 symbols
    }

    // --- precedence ------------------------------------------------------------------------------------------

    @Test
    void specificDetectorsWinOverHighEntropy() {
        String text = GITHUB_FINE_GRAINED + " " + JWT + " " + PRIVATE_KEY;
        assertThat(scan(text)).extracting(Finding::type)
                .containsExactly(DetectorType.GITHUB_TOKEN, DetectorType.JWT, DetectorType.PRIVATE_KEY);
    }

    @Test
    void disabledDetectorsDoNotRun() {
        OutputScanner onlyCards = new OutputScanner(List.of(DetectorType.CREDIT_CARD));
        assertThat(onlyCards.findings(SSN + " " + VISA + " " + AWS_KEY_ID + " " + RANDOM_KEY_40))
                .extracting(Finding::type).containsExactly(DetectorType.CREDIT_CARD);
    }
}
