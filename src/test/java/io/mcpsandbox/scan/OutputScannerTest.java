package io.mcpsandbox.scan;

import static io.mcpsandbox.scan.Secrets.AMEX;
import static io.mcpsandbox.scan.Secrets.AWS_KEY_ID;
import static io.mcpsandbox.scan.Secrets.AWS_SECRET;
import static io.mcpsandbox.scan.Secrets.GITHUB_FINE_GRAINED;
import static io.mcpsandbox.scan.Secrets.GITHUB_PAT_CLASSIC;
import static io.mcpsandbox.scan.Secrets.GITLAB;
import static io.mcpsandbox.scan.Secrets.JWT;
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
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.model.DlpMode;
import io.mcpsandbox.model.SecurityEvent;
import io.mcpsandbox.model.SecurityEvent.Severity;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.json.JsonMapper;

class OutputScannerTest {
    private static final List<String> ALL_SECRETS = List.of(AWS_KEY_ID, AWS_SECRET, VISA, VISA_SPACED, AMEX, SSN,
            RANDOM_KEY_URLSAFE, GITHUB_PAT_CLASSIC, GITHUB_FINE_GRAINED, GITLAB, SLACK_BOT, SLACK_WEBHOOK, STRIPE_LIVE,
            STRIPE_TEST, JWT, PRIVATE_KEY);

    private final OutputScanner scanner = new OutputScanner();
    private final JsonMapper json = JsonMapper.builder().build();

    private static String everything() {
        return "starting job\n"
                + "aws_access_key_id = " + AWS_KEY_ID + "\n"
                + "aws_secret_access_key = " + AWS_SECRET + "\n"
                + "paid with " + VISA + " and " + VISA_SPACED + ", amex " + AMEX + "\n"
                + "ssn " + SSN + "\n"
                + "api_key=" + RANDOM_KEY_URLSAFE + "\n"
                + "gh " + GITHUB_PAT_CLASSIC + " / " + GITHUB_FINE_GRAINED + "\n"
                + "gl " + GITLAB + " slack " + SLACK_BOT + " hook " + SLACK_WEBHOOK + "\n"
                + "stripe " + STRIPE_LIVE + " " + STRIPE_TEST + "\n"
                + "Authorization: Bearer " + JWT + "\n"
                + PRIVATE_KEY + "\n"
                + "done\n";
    }

    @Test
    void reportReturnsTheTextUnchangedWithOneEventPerType() {
        String out = everything();
        ScanOutcome outcome = scanner.scan(out, "", DlpMode.REPORT);
        assertThat(outcome.stdout()).isSameAs(out);
        assertThat(outcome.withheld()).isFalse();
        assertThat(outcome.events()).extracting(SecurityEvent::type).containsExactly(
                "dlp.private_key", "dlp.jwt", "dlp.aws_access_key", "dlp.github_token", "dlp.gitlab_token",
                "dlp.slack_token", "dlp.slack_webhook", "dlp.stripe_key", "dlp.aws_secret_key", "dlp.ssn",
                "dlp.credit_card", "dlp.high_entropy");
        SecurityEvent cards = event(outcome, "dlp.credit_card");
        assertThat(cards.severity()).isEqualTo(Severity.HIGH);
        assertThat(cards.details()).containsEntry("count", 3).containsEntry("stream", "stdout")
                .containsEntry("action", "reported").containsEntry("offsetsTruncated", false);
        assertThat(event(outcome, "dlp.private_key").severity()).isEqualTo(Severity.CRITICAL);
        assertThat(event(outcome, "dlp.stripe_key").severity()).isEqualTo(Severity.CRITICAL); // live wins over test
        assertThat(event(outcome, "dlp.stripe_key").details()).containsEntry("count", 2);
        assertThat(event(outcome, "dlp.high_entropy").severity()).isEqualTo(Severity.MEDIUM);
    }

    @Test
    void offsetsPointAtTheSecrets() {
        String out = everything();
        ScanOutcome outcome = scanner.scan(out, null, DlpMode.REPORT);
        for (SecurityEvent e : outcome.events()) {
            @SuppressWarnings("unchecked")
            List<List<Integer>> offsets = (List<List<Integer>>) e.details().get("offsets");
            assertThat(offsets).hasSize((Integer) e.details().get("count"));
            for (List<Integer> range : offsets) {
                String matched = out.substring(range.get(0), range.get(1));
                assertThat(ALL_SECRETS).as(e.type() + " matched " + range).contains(matched);
            }
        }
        List<Integer> ssn = offsetsOf(event(outcome, "dlp.ssn")).getFirst();
        assertThat(ssn).containsExactly(out.indexOf(SSN), out.indexOf(SSN) + SSN.length());
    }

    @Test
    void noEventCarriesASecretNorMoreThanItsTypePrefix() {
        String out = everything();
        ScanOutcome outcome = scanner.scan(out, out, DlpMode.REPORT);
        String serialized = json.writeValueAsString(outcome.events());
        assertThat(outcome.events()).hasSize(24);
        for (String secret : ALL_SECRETS) {
            assertThat(serialized).doesNotContain(secret);
            // nor any 8-character piece of its body (what identifies the type, like AKIA or ghp_, may appear)
            String body = secret.substring(Math.min(11, secret.length() / 3));
            for (int i = 0; i + 8 <= body.length(); i++) {
                String piece = body.substring(i, i + 8);
                if (piece.chars().anyMatch(Character::isLetterOrDigit) && !piece.contains(" ")
                        && !piece.contains("-----") && !piece.contains("\n")) {
                    assertThat(serialized).as("piece of " + secret.substring(0, 4)).doesNotContain(piece);
                }
            }
        }
        assertThat(serialized).contains("\"stream\":\"stderr\"").contains("\"type\":\"dlp.aws_access_key\"")
                .contains("\"severity\":\"critical\"");
    }

    @Test
    void redactMasksEveryOccurrenceInBothStreams() {
        String out = everything() + "again " + AWS_KEY_ID + " and " + AWS_KEY_ID + "\n";
        String err = "Traceback: token " + GITHUB_PAT_CLASSIC + " rejected; card " + VISA_DASHED + "\n";
        ScanOutcome outcome = scanner.scan(out, err, DlpMode.REDACT);
        for (String secret : ALL_SECRETS) {
            assertThat(outcome.stdout()).doesNotContain(secret);
            assertThat(outcome.stderr()).doesNotContain(secret);
        }
        assertThat(outcome.stdout()).contains("aws_access_key_id = [REDACTED:aws_access_key]\n")
                .contains("again [REDACTED:aws_access_key] and [REDACTED:aws_access_key]\n")
                .contains("[REDACTED:private_key]\ndone\n")
                .contains("Authorization: Bearer [REDACTED:jwt]\n")
                .startsWith("starting job\n");
        assertThat(outcome.stderr()).isEqualTo(
                "Traceback: token [REDACTED:github_token] rejected; card [REDACTED:credit_card]\n");
        assertThat(event(outcome, "dlp.aws_access_key").details()).containsEntry("count", 3)
                .containsEntry("action", "redacted");
        assertThat(outcome.withheld()).isFalse();
        // the redacted text scans clean
        assertThat(scanner.scan(outcome.stdout(), outcome.stderr(), DlpMode.REPORT).events()).isEmpty();
    }

    @Test
    void blockWithholdsBothStreamsWhenAnythingIsFound() {
        ScanOutcome outcome = scanner.scan("all good here\n", "oops " + SSN + "\n", DlpMode.BLOCK);
        assertThat(outcome.withheld()).isTrue();
        assertThat(outcome.stdout()).isEmpty();
        assertThat(outcome.stderr()).isEmpty();
        assertThat(outcome.events()).singleElement().satisfies(e -> {
            assertThat(e.type()).isEqualTo("dlp.ssn");
            assertThat(e.details()).containsEntry("stream", "stderr").containsEntry("action", "withheld");
        });
    }

    @Test
    void cleanOutputPassesThroughInEveryMode() {
        String out = "build ok: commit 3f786850e387550fdab836ed7e6dc881de23001b, 12 tests, id "
                + "550e8400-e29b-41d4-a716-446655440000\n";
        for (DlpMode mode : DlpMode.values()) {
            ScanOutcome outcome = scanner.scan(out, null, mode);
            assertThat(outcome.clean()).isTrue();
            assertThat(outcome.withheld()).isFalse();
            assertThat(outcome.stdout()).isSameAs(out);
            assertThat(outcome.stderr()).isNull();
        }
    }

    @Test
    void offsetsAreCappedAndTheCapIsSaid() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 50; i++) {
            sb.append("ssn ").append(SSN).append('\n');
        }
        SecurityEvent e = scanner.scan(sb.toString(), "", DlpMode.REPORT).events().getFirst();
        assertThat(e.details()).containsEntry("count", 50).containsEntry("offsetsTruncated", true);
        assertThat(offsetsOf(e)).hasSize(OutputScanner.MAX_OFFSETS);
    }

    @Test
    void detectorsCanBeTurnedOffInSettings() {
        Properties file = new Properties();
        file.setProperty(OutputScanner.DISABLED_KEY, "ssn");
        Settings settings = new Settings(file,
                Map.of("MCP_SANDBOX_DLP_DETECTORS_DISABLED", "high_entropy, credit-card"));
        OutputScanner configured = OutputScanner.fromSettings(settings);
        assertThat(configured.enabled()).doesNotContain(DetectorType.HIGH_ENTROPY, DetectorType.CREDIT_CARD)
                .contains(DetectorType.SSN); // the environment wins over the file
        assertThat(configured.findings(VISA + " " + RANDOM_KEY_40)).isEmpty();
        assertThatThrownBy(() -> OutputScanner.fromSettings(new Settings(new Properties(),
                Map.of("MCP_SANDBOX_DLP_DETECTORS_DISABLED", "passwords"))))
                .hasMessageContaining("dlp.detectors.disabled").hasMessageContaining("passwords")
                .hasMessageContaining("credit_card");
    }

    @Test
    void oneInstanceServesManyThreads() throws Exception {
        String out = everything();
        ScanOutcome expected = scanner.scan(out, "", DlpMode.REDACT);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<ScanOutcome>> futures = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                futures.add(pool.submit(() -> scanner.scan(out, "", DlpMode.REDACT)));
            }
            for (Future<ScanOutcome> f : futures) {
                ScanOutcome got = f.get();
                assertThat(got.stdout()).isEqualTo(expected.stdout());
                assertThat(got.events()).extracting(SecurityEvent::details)
                        .isEqualTo(expected.events().stream().map(SecurityEvent::details).toList());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static SecurityEvent event(ScanOutcome outcome, String type) {
        return outcome.events().stream().filter(e -> e.type().equals(type)).findFirst().orElseThrow(
                () -> new AssertionError("no " + type + " in " + outcome.events()));
    }

    @SuppressWarnings("unchecked")
    private static List<List<Integer>> offsetsOf(SecurityEvent e) {
        return (List<List<Integer>>) e.details().get("offsets");
    }
}
