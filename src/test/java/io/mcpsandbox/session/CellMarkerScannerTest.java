package io.mcpsandbox.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The cell-end scanner and the report parser against what a hostile interpreter can print. */
class CellMarkerScannerTest {
    private static final String TOKEN = "0123456789abcdef0123456789abcdef";
    private static final byte[] MARKER = CellRun.marker(TOKEN);

    private final ByteArrayOutputStream passed = new ByteArrayOutputStream();
    private final CellMarkerScanner scanner = new CellMarkerScanner(MARKER, 100, chunk -> {
        passed.writeBytes(chunk);
    });

    @Test
    void passesOutputOnAndKeepsTheMarkersLine() {
        assertThat(scanner.accept(bytes("hello "))).isEqualTo(CellMarkerScanner.State.SCANNING);
        assertThat(scanner.accept(concat(bytes("world"), MARKER, bytes(" {\"x\":1}\nafter"))))
                .isEqualTo(CellMarkerScanner.State.ENDED);
        assertThat(passed.toString(StandardCharsets.UTF_8)).isEqualTo("hello world");
        assertThat(new String(scanner.line(), StandardCharsets.UTF_8)).isEqualTo(" {\"x\":1}");
        // after the end nothing is the cell's
        assertThat(scanner.accept(bytes("later"))).isEqualTo(CellMarkerScanner.State.ENDED);
        assertThat(passed.toString(StandardCharsets.UTF_8)).isEqualTo("hello world");
    }

    @Test
    void findsAMarkerSplitAcrossChunksByteByByte() {
        byte[] all = concat(bytes("out"), MARKER, bytes(" r\n"));
        CellMarkerScanner.State state = null;
        for (byte b : all) {
            state = scanner.accept(new byte[] {b});
        }
        assertThat(state).isEqualTo(CellMarkerScanner.State.ENDED);
        assertThat(passed.toString(StandardCharsets.UTF_8)).isEqualTo("out");
        assertThat(new String(scanner.line(), StandardCharsets.UTF_8)).isEqualTo(" r");
    }

    @Test
    void holdsBackOnlyAPossibleStartOfTheMarker() {
        byte[] start = Arrays.copyOf(MARKER, 10);
        scanner.accept(concat(bytes("abc"), start));
        assertThat(passed.toString(StandardCharsets.UTF_8)).isEqualTo("abc");
        // it was not the marker after all: the held bytes are output, in order
        scanner.accept(bytes("xyz"));
        assertThat(passed.toByteArray()).isEqualTo(concat(bytes("abc"), start, bytes("xyz")));
        assertThat(scanner.state()).isEqualTo(CellMarkerScanner.State.SCANNING);
    }

    @Test
    void aMarkerWithAnotherTokenIsPlainOutput() {
        byte[] fake = concat(CellRun.marker("ffffffffffffffffffffffffffffffff"), bytes(" {\"status\":\"ok\"}\n"));
        assertThat(scanner.accept(fake)).isEqualTo(CellMarkerScanner.State.SCANNING);
        assertThat(passed.toByteArray()).isEqualTo(fake);
    }

    @Test
    void tenMegabytesWithoutANewlinePassThroughWithoutBeingHeld() {
        byte[] chunk = new byte[65536];
        Arrays.fill(chunk, (byte) 'x');
        for (int i = 0; i < 160; i++) {
            scanner.accept(chunk);
        }
        assertThat(passed.size()).isEqualTo(160 * 65536);
        assertThat(scanner.state()).isEqualTo(CellMarkerScanner.State.SCANNING);
    }

    @Test
    void aMarkerLineLongerThanItsBoundBreaksTheStream() {
        scanner.accept(MARKER);
        byte[] long60 = new byte[60];
        Arrays.fill(long60, (byte) 'a');
        assertThat(scanner.accept(long60)).isEqualTo(CellMarkerScanner.State.SCANNING);
        assertThat(scanner.accept(long60)).isEqualTo(CellMarkerScanner.State.BROKEN);
        assertThat(scanner.brokenReason()).contains("longer than 100 bytes");
        assertThat(scanner.accept(bytes("\n"))).isEqualTo(CellMarkerScanner.State.BROKEN);
    }

    @Test
    void aZeroBoundAllowsOnlyTheNewline() {
        CellMarkerScanner stderr = new CellMarkerScanner(MARKER, 0, chunk -> { });
        assertThat(stderr.accept(concat(MARKER, bytes("\n")))).isEqualTo(CellMarkerScanner.State.ENDED);
        CellMarkerScanner extra = new CellMarkerScanner(MARKER, 0, chunk -> { });
        assertThat(extra.accept(concat(MARKER, bytes(" x\n")))).isEqualTo(CellMarkerScanner.State.BROKEN);
    }

    @Test
    void theReportIsParsedStrictly() throws Exception {
        assertThat(CellOutcome.parse(bytes(" {\"status\": \"ok\", \"result\": \"2\"}")))
                .isEqualTo(new CellOutcome(false, "2"));
        assertThat(CellOutcome.parse(bytes(" {\"status\":\"error\",\"result\":null}")))
                .isEqualTo(new CellOutcome(true, null));
        for (String bad : List.of("", " ", "{\"status\":\"ok\",\"result\":null}", " not json", " []",
                " {\"status\":\"ok\"}", " {\"status\":\"fine\",\"result\":null}", " {\"status\":\"ok\",\"result\":2}",
                " {\"status\":\"ok\",\"result\":null,\"exitCode\":0}", " {\"status\":\"ok\",\"status\":\"ok\"}",
                " {\"status\":\"ok\",\"result\":null} {}", " {\"status\":\"ok\",\"result\":null /* c */}")) {
            assertThatThrownBy(() -> CellOutcome.parse(bytes(bad))).as(bad)
                    .isInstanceOf(CellOutcome.MalformedException.class);
        }
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            all.writeBytes(p);
        }
        return all.toByteArray();
    }
}
