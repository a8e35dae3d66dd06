package io.mcpsandbox.runtime.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;

class FrameWriterTest {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final FrameWriter writer = new FrameWriter(out);

    /** The expected bytes are written out by hand from the spec's layout. */
    @Test
    void startIsEncodedByteForByte() throws IOException {
        writer.start(7, List.of("echo", "hi"), Map.of("A", "1"), "/w");
        assertThat(hex(out.toByteArray())).isEqualTo(
                "00000018" + "01" + "00000007"          // length 24, start, stream 7
                + "0002" + "0001"                       // argc 2, envc 1
                + "2f7700"                              // "/w\0"
                + "6563686f00" + "686900"               // "echo\0" "hi\0"
                + "413d3100");                          // "A=1\0"
    }

    @Test
    void envGoesInNameOrderAndMayHaveEmptyValuesAndUtf8() {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("Z", "é");
        env.put("B", "");
        assertThat(hex(FrameWriter.encodeStart(1, List.of("x"), env, "/"))).isEqualTo(
                "00000015" + "01" + "00000001"          // length 21: 5 + 16
                + "0001" + "0002"
                + "2f00" + "7800"
                + "423d00" + "5a3dc3a900");
    }

    @Test
    void smallFramesByteForByte() throws IOException {
        writer.stdin(3, "abc".getBytes());
        writer.stdinClose(3);
        writer.signal(3, 9);
        writer.shutdown();
        assertThat(hex(out.toByteArray())).isEqualTo(
                "00000008" + "02" + "00000003" + "616263"
                + "00000005" + "03" + "00000003"
                + "00000006" + "04" + "00000003" + "09"
                + "00000005" + "05" + "00000000");
    }

    @Test
    void fileFramesByteForByte() {
        assertThat(hex(FrameWriter.encodeFileWrite(7, 0640, "/w/a"))).isEqualTo(
                "0000000e" + "06" + "00000007" + "000001a0" + "2f772f6100");
        assertThat(hex(FrameWriter.encodeFileRead(8, 65536, "/é"))).isEqualTo(
                "00000011" + "0a" + "00000008" + "0000000000010000" + "2fc3a900");
        assertThat(hex(FrameWriter.encodeFileList(9, 1000, "/"))).isEqualTo(
                "0000000b" + "0b" + "00000009" + "000003e8" + "2f00");
        assertThat(hex(FrameWriter.encodeFileDelete(10, "/x"))).isEqualTo(
                "00000008" + "0c" + "0000000a" + "2f7800");
        assertThat(hex(FrameWriter.encode(FrameType.FILE_CHUNK, 7, new byte[] {0, 1}, 0, 2)))
                .isEqualTo("00000007" + "07" + "00000007" + "0001");
        assertThat(hex(FrameWriter.encode(FrameType.FILE_END, 7, new byte[0], 0, 0)))
                .isEqualTo("00000005" + "08" + "00000007");
        assertThat(hex(FrameWriter.encode(FrameType.FILE_ABORT, 7, new byte[0], 0, 0)))
                .isEqualTo("00000005" + "09" + "00000007");
        assertThat(FrameWriter.encodeFileRead(1, Long.MAX_VALUE, "/" + "a".repeat(4095))).hasSize(9 + 8 + 4097);
    }

    @Test
    void filePathsAndLimitsTheSpecRefusesAreRefused() {
        for (String path : List.of("", "a", "a/b", "/a/", "//a", "/a//b", "/a/./b", "/a/../b", "/..", "/.")) {
            assertThatThrownBy(() -> FrameWriter.encodeFileDelete(1, path))
                    .isInstanceOf(IllegalArgumentException.class);
        }
        assertRefused(() -> FrameWriter.encodeFileDelete(1, "/a\0b"), "path contains NUL");
        assertRefused(() -> FrameWriter.encodeFileDelete(1, "/\ud800"), "path is not well-formed Unicode");
        assertRefused(() -> FrameWriter.encodeFileRead(1, 1, "/"), "path / names no file");
        assertRefused(() -> FrameWriter.encodeFileRead(1, 1, "/" + "é".repeat(2048)),
                "path of 4097 bytes is over 4096");
        assertRefused(() -> FrameWriter.encodeFileRead(1, 0, "/a"), "maxBytes 0 is outside 1 .. 2^63-1");
        assertRefused(() -> FrameWriter.encodeFileList(1, 0, "/a"), "maxEntries 0 is below 1");
        assertRefused(() -> FrameWriter.encodeFileWrite(1, 01000, "/a"),
                "mode 01000 is not permission bits (0 .. 0777) and the make-parents flag");
        assertRefused(() -> FrameWriter.encodeFileWrite(1, -1, "/a"),
                "mode 037777777777 is not permission bits (0 .. 0777) and the make-parents flag");
        assertRefused(() -> FrameWriter.encodeFileWrite(0, 0644, "/a"), "process id 0 is outside 1 .. 2^31-1");
        assertThat(FrameWriter.encodeFileList(1, 1, "/")).hasSize(9 + 4 + 2);
        assertThat(FrameWriter.encodeFileDelete(1, "/a/.b/..c/...")).hasSize(9 + 14);
    }

    @Test
    void stdinIsCutIntoFramesOfAtMost65536Bytes() throws IOException {
        byte[] data = new byte[2 * 65536 + 1];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) i;
        }
        writer.stdin(5, data);
        List<Frames.HostFrame> frames = Frames.hostFrames(out.toByteArray());
        assertThat(frames).extracting(f -> f.payload().length).containsExactly(65536, 65536, 1);
        assertThat(frames).allSatisfy(f -> assertThat(f.type()).isEqualTo(0x02))
                .allSatisfy(f -> assertThat(f.stream()).isEqualTo(5));
        assertThat(Frames.concat(frames.get(0).payload(), frames.get(1).payload(), frames.get(2).payload()))
                .isEqualTo(data);
    }

    @Test
    void emptyStdinSendsNothing() throws IOException {
        writer.stdin(5, new byte[0]);
        assertThat(out.size()).isZero();
    }

    @Test
    void argumentAndEnvironmentCountsAtTheirLimits() {
        List<String> args = Collections.nCopies(4096, "a");
        Map<String, String> env = new LinkedHashMap<>();
        for (int i = 0; i < 4096; i++) {
            env.put("V" + i, "");
        }
        byte[] frame = FrameWriter.encodeStart(1, args, env, "/");
        assertThat(hex(frame).substring(18, 26)).isEqualTo("10001000");
        assertRefused(() -> FrameWriter.encodeStart(1, Collections.nCopies(4097, "a"), Map.of(), "/"),
                "4097 arguments (allowed: 1 .. 4096)");
        env.put("ONE_MORE", "");
        assertRefused(() -> FrameWriter.encodeStart(1, args, env, "/"),
                "4097 environment variables (allowed: at most 4096)");
        assertRefused(() -> FrameWriter.encodeStart(1, List.of(), Map.of(), "/"), "0 arguments (allowed: 1 .. 4096)");
    }

    @Test
    void whatTheSpecRefusesIsRefused() {
        assertRefused(() -> FrameWriter.encodeStart(1, List.of(""), Map.of(), "/"), "empty argument");
        assertRefused(() -> FrameWriter.encodeStart(1, List.of("a"), Map.of(), ""), "empty cwd");
        assertRefused(() -> FrameWriter.encodeStart(1, List.of("a\0b"), Map.of(), "/"), "argument contains NUL");
        assertRefused(() -> FrameWriter.encodeStart(1, List.of("a"), Map.of(), "/\0"), "cwd contains NUL");
        assertRefused(() -> FrameWriter.encodeStart(1, List.of("a"), Map.of("A", "\0"), "/"),
                "environment variable contains NUL");
        assertRefused(() -> FrameWriter.encodeStart(1, List.of("a"), Map.of("", "x"), "/"),
                "environment variable name '' is empty or has '='");
        assertRefused(() -> FrameWriter.encodeStart(1, List.of("a"), Map.of("A=B", "x"), "/"),
                "environment variable name 'A=B' is empty or has '='");
        assertRefused(() -> FrameWriter.encodeStart(1, List.of("\ud800"), Map.of(), "/"),
                "argument is not well-formed Unicode");
        assertRefused(() -> FrameWriter.encodeStart(0, List.of("a"), Map.of(), "/"),
                "process id 0 is outside 1 .. 2^31-1");
        assertRefused(() -> FrameWriter.encodeStart(-1, List.of("a"), Map.of(), "/"),
                "process id -1 is outside 1 .. 2^31-1");
        assertRefused(() -> writer.signal(1, 0), "signal 0 is outside 1 .. 64");
        assertRefused(() -> writer.signal(1, 65), "signal 65 is outside 1 .. 64");
        assertRefused(() -> writer.stdin(0, new byte[1]), "process id 0 is outside 1 .. 2^31-1");
        assertThat(out.size()).isZero();
    }

    @Test
    void aStartPayloadOver65536BytesIsRefusedAndOneAtTheLimitIsNot() {
        // 4 (counts) + 2 ("/\0") + n + 1 ("a...\0") = 65536 when n = 65529
        assertThat(FrameWriter.encodeStart(1, List.of("a".repeat(65529)), Map.of(), "/")).hasSize(9 + 65536);
        assertRefused(() -> FrameWriter.encodeStart(1, List.of("a".repeat(65530)), Map.of(), "/"),
                "start payload of 65537 bytes is over 65536");
    }

    /** Eight threads writing large stdin at once: every frame arrives whole. */
    @Test
    void concurrentWritersNeverInterleaveInsideAFrame() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> writes = new ArrayList<>();
            for (int id = 1; id <= 8; id++) {
                byte[] data = new byte[300_000];
                Arrays.fill(data, (byte) id);
                int stream = id;
                writes.add(pool.submit(() -> {
                    writer.stdin(stream, data);
                    return null;
                }));
            }
            for (Future<?> write : writes) {
                write.get();
            }
        } finally {
            pool.shutdownNow();
        }
        List<Frames.HostFrame> frames = Frames.hostFrames(out.toByteArray());
        assertThat(frames).hasSize(8 * 5);
        for (Frames.HostFrame frame : frames) {
            for (byte b : frame.payload()) {
                assertThat((int) b).isEqualTo(frame.stream());
            }
        }
    }

    private static void assertRefused(ThrowingCallable call, String message) {
        assertThatThrownBy(call).isInstanceOf(IllegalArgumentException.class).hasMessage(message);
    }

    private static String hex(byte[] bytes) {
        return HexFormat.of().formatHex(bytes);
    }
}
