package io.mcpsandbox.scan;

import static io.mcpsandbox.scan.Secrets.AWS_KEY_ID;
import static io.mcpsandbox.scan.Secrets.GITHUB_PAT_CLASSIC;
import static io.mcpsandbox.scan.Secrets.VISA;
import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.model.DlpMode;
import io.mcpsandbox.model.SecurityEvent;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Issue 10 item 11: a secret split by terminal formatting, or between the two streams, is still found. */
class FormattingEvasionTest {
    private static final String ESC = "\u001b";
    private final OutputScanner scanner = new OutputScanner();

    /** The key with {@code sep} between every 4 characters. */
    private static String split(String secret, String sep) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < secret.length(); i += 4) {
            sb.append(i == 0 ? "" : sep).append(secret, i, Math.min(secret.length(), i + 4));
        }
        return sb.toString();
    }

    private SecurityEvent only(ScanOutcome o, String type) {
        List<SecurityEvent> matching = o.events().stream().filter(e -> e.type().equals(type)).toList();
        assertThat(matching).as("events: %s", o.events()).hasSize(1);
        return matching.getFirst();
    }

    private void assertFoundAndRedacted(String secretPrinted, String type, String marker) {
        String out = "key: " + secretPrinted + "\n";
        ScanOutcome report = scanner.scan(out, "", DlpMode.REPORT);
        SecurityEvent e = only(report, type);
        assertThat(e.details()).containsEntry("stream", "stdout");
        // offsets are into the original output and cover the whole printed secret, escapes included
        assertThat(e.details().get("offsets")).isEqualTo(List.of(List.of(5, 5 + secretPrinted.length())));
        ScanOutcome redacted = scanner.scan(out, "", DlpMode.REDACT);
        assertThat(redacted.stdout()).isEqualTo("key: " + marker + "\n");
    }

    @Test
    void ansiColoursBetweenTheCharactersOfAnAwsKey() {
        String printed = split(AWS_KEY_ID, ESC + "[31m") + ESC + "[0m";
        printed = printed.substring(0, printed.length() - 4); // ends with the key's last character
        assertThat(scanner.findings(AWS_KEY_ID.substring(0, 4) + ESC + "[1;31m" + AWS_KEY_ID.substring(4)))
                .extracting(Finding::type).contains(DetectorType.AWS_ACCESS_KEY);
        assertFoundAndRedacted(printed, "dlp.aws_access_key", "[REDACTED:aws_access_key]");
    }

    @Test
    void cursorMovesAndOtherCsiSequencesInsideAKey() {
        assertFoundAndRedacted(split(AWS_KEY_ID, ESC + "[2K" + ESC + "[1G" + ESC + "[?25l"), "dlp.aws_access_key",
                "[REDACTED:aws_access_key]");
        assertFoundAndRedacted(split(AWS_KEY_ID, "\u009b0m"), "dlp.aws_access_key", "[REDACTED:aws_access_key]");
        assertFoundAndRedacted(split(AWS_KEY_ID, ESC + "(B" + ESC + "7"), "dlp.aws_access_key",
                "[REDACTED:aws_access_key]");
    }

    @Test
    void zeroWidthJoinersInsideACardNumber() {
        assertFoundAndRedacted(split(VISA, "\u200d"), "dlp.credit_card", "[REDACTED:credit_card]");
        assertFoundAndRedacted(split(VISA, "\u200b\u2060\ufeff"), "dlp.credit_card", "[REDACTED:credit_card]");
        assertFoundAndRedacted(split(VISA, "\u00ad"), "dlp.credit_card", "[REDACTED:credit_card]");
    }

    @Test
    void unicodeTagCharactersAndBidiControls() {
        // U+E0041 (TAG LATIN CAPITAL LETTER A) is a supplementary format character: two chars in Java
        assertFoundAndRedacted(split(GITHUB_PAT_CLASSIC, new String(Character.toChars(0xE0041)) + "\u202e\u202c"),
                "dlp.github_token", "[REDACTED:github_token]");
    }

    @Test
    void controlCharactersInsideAKey() {
        assertFoundAndRedacted(split(AWS_KEY_ID, "\u0000\u0007\u007f\u0085"), "dlp.aws_access_key",
                "[REDACTED:aws_access_key]");
    }

    @Test
    void oscSequencesInsideAKey() {
        assertFoundAndRedacted(split(AWS_KEY_ID, ESC + "]0;innocent title\u0007"), "dlp.aws_access_key",
                "[REDACTED:aws_access_key]");
        assertFoundAndRedacted(split(AWS_KEY_ID, ESC + "]8;;https://example.com" + ESC + "\\"), "dlp.aws_access_key",
                "[REDACTED:aws_access_key]");
        assertFoundAndRedacted(split(AWS_KEY_ID, "\u009d2;t\u009c"), "dlp.aws_access_key",
                "[REDACTED:aws_access_key]");
        assertFoundAndRedacted(split(AWS_KEY_ID, ESC + "P+q\u0007" + ESC + "_apc" + ESC + "\\"), "dlp.aws_access_key",
                "[REDACTED:aws_access_key]");
    }

    @Test
    void aSecretInsideAnOscPayloadIsStillFound() {
        String out = ESC + "]0;" + AWS_KEY_ID + "\u0007rest\n";
        ScanOutcome o = scanner.scan(out, "", DlpMode.REDACT);
        only(o, "dlp.aws_access_key");
        assertThat(o.stdout()).doesNotContain(AWS_KEY_ID.substring(4));
    }

    @Test
    void carriageReturnOverwrites() {
        // a terminal shows only what follows the last \r; the raw output still carries the whole key
        assertFoundAndRedacted(split(AWS_KEY_ID, "\r"), "dlp.aws_access_key", "[REDACTED:aws_access_key]");
        assertFoundAndRedacted(split(VISA, "\r\b"), "dlp.credit_card", "[REDACTED:credit_card]");
    }

    @Test
    void crlfLineEndingsAreNotTakenForOverwrites() {
        // "\r\n" ends a line; it must not glue two lines into one token
        List<Finding> f = scanner.findings("4111 1111\r\n1111 1111\r\n");
        assertThat(f).isEmpty();
    }

    @Test
    void strippingAZeroWidthSpaceDoesNotHideAKeyAfterALetter() {
        // "x<ZWSP>AKIA..." is a word start as printed, not once the space is gone: both views are scanned
        String out = "x\u200b" + AWS_KEY_ID + "\n";
        ScanOutcome o = scanner.scan(out, "", DlpMode.REDACT);
        only(o, "dlp.aws_access_key");
        assertThat(o.stdout()).isEqualTo("x\u200b[REDACTED:aws_access_key]\n");
    }

    @Test
    void removingAFormatCharacterDoesNotMakeACardLookLikeADecimal() {
        // "1.<ZWSP>4111..." as printed is a card after "1."; without the space it reads as the decimal 1.4111...
        ScanOutcome o = scanner.scan("paid 1.\u200b" + Secrets.VISA_SPACED + " today\n", "", DlpMode.REPORT);
        only(o, "dlp.credit_card");
    }

    @Test
    void colouredLogLinesAreScannedOnceWithoutTheEscapes() {
        // escapes that touch whitespace or a line end cannot hide anything: the normalised view alone is scanned
        NormalizedText n = NormalizedText.of(ESC + "[32m2026-11-28 INFO served" + ESC + "[0m\n" + ESC + "[1;31mERROR "
                + ESC + "[0m" + "id " + AWS_KEY_ID + "\n");
        assertThat(n.unchanged()).isFalse();
        assertThat(n.rawScanNeeded()).isFalse();
        assertThat(NormalizedText.of("[" + ESC + "[32mINFO" + ESC + "[0m]").rawScanNeeded()).isTrue();
        assertThat(NormalizedText.of(ESC + "]0;title\u0007\n").rawScanNeeded()).isTrue();
    }

    @Test
    void aColouredKeyIsFoundEvenThoughTheEscapeEndsWithALetter() {
        // "\e[31m" ends in 'm', so as printed the key does not start a word
        String out = "key: " + ESC + "[31m" + AWS_KEY_ID + ESC + "[0m\n";
        ScanOutcome o = scanner.scan(out, "", DlpMode.REDACT);
        assertThat(only(o, "dlp.aws_access_key").details().get("offsets")).isEqualTo(List.of(List.of(10, 30)));
        assertThat(o.stdout()).isEqualTo("key: " + ESC + "[31m[REDACTED:aws_access_key]" + ESC + "[0m\n");
    }

    @Test
    void keyHalfOnStdoutHalfOnStderr() {
        String out = "id=" + AWS_KEY_ID.substring(0, 10);
        String err = AWS_KEY_ID.substring(10) + "\nmore\n";
        ScanOutcome report = scanner.scan(out, err, DlpMode.REPORT);
        SecurityEvent e = only(report, "dlp.aws_access_key");
        assertThat(e.details()).containsEntry("stream", OutputScanner.STDOUT_THEN_STDERR);
        // start in stdout, end (exclusive) in stderr
        assertThat(e.details().get("offsets")).isEqualTo(List.of(List.of(3, 10)));
        ScanOutcome redacted = scanner.scan(out, err, DlpMode.REDACT);
        assertThat(redacted.stdout()).isEqualTo("id=[REDACTED:aws_access_key]");
        assertThat(redacted.stderr()).isEqualTo("[REDACTED:aws_access_key]\nmore\n");
        ScanOutcome blocked = scanner.scan(out, err, DlpMode.BLOCK);
        assertThat(blocked.withheld()).isTrue();
    }

    @Test
    void keyHalvesPrintedWithNewlinesAndEscapesAcrossStreams() {
        // print() adds a newline; the other half may come first on stderr, coloured
        String err = "warn " + ESC + "[33m" + VISA.substring(0, 8) + "\n";
        String out = ESC + "[0m" + VISA.substring(8) + " total\n";
        ScanOutcome o = scanner.scan(out, err, DlpMode.REDACT);
        SecurityEvent e = only(o, "dlp.credit_card");
        assertThat(e.details()).containsEntry("stream", OutputScanner.STDERR_THEN_STDOUT);
        assertThat(o.stderr()).as("%s", o.stderr().replace(ESC, "ESC"))
                .isEqualTo("warn " + ESC + "[33m" + "[REDACTED:credit_card]\n");
        assertThat(o.stdout()).isEqualTo(ESC + "[0m[REDACTED:credit_card] total\n"); // the escape before it is kept
    }

    @Test
    void aSecretWhollyInOneStreamIsNotReportedTwice() {
        ScanOutcome o = scanner.scan("a " + AWS_KEY_ID, "b\n", DlpMode.REPORT);
        assertThat(o.events()).extracting(SecurityEvent::type).containsExactly("dlp.aws_access_key");
        assertThat(o.events().getFirst().details()).containsEntry("stream", "stdout");
    }

    @Test
    void cleanFormattedOutputStaysClean() {
        String out = ESC + "[1;32mPASS" + ESC + "[0m 12 tests\r\n" + ESC + "]0;build\u0007done\u200b\n";
        ScanOutcome o = scanner.scan(out, ESC + "[33mwarning" + ESC + "[0m\n", DlpMode.REDACT);
        assertThat(o.events()).isEmpty();
        assertThat(o.stdout()).isSameAs(out);
    }

    @Test
    void normalisationMapsEveryKeptCharBack() {
        String s = "a" + ESC + "[31mb\u200bc" + ESC + "]0;t\u0007d\r\ne";
        NormalizedText n = NormalizedText.of(s);
        assertThat(n.text()).isEqualTo("abcd\r\ne");
        for (int i = 0; i < n.text().length(); i++) {
            assertThat(s.charAt(n.originOf(i))).isEqualTo(n.text().charAt(i));
        }
        assertThat(NormalizedText.of("plain\ttext\r\n").unchanged()).isTrue();
    }

    @Test
    void anUnterminatedStringSequenceDoesNotSwallowTheRest() {
        String out = ESC + "]0;" + "x".repeat(NormalizedText.MAX_STRING_SEQUENCE + 10) + " "
                + split(AWS_KEY_ID, "\u200b") + "\n";
        assertThat(scanner.findings(out)).extracting(Finding::type).contains(DetectorType.AWS_ACCESS_KEY);
    }
}
