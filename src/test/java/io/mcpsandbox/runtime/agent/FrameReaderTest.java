package io.mcpsandbox.runtime.agent;

import static io.mcpsandbox.runtime.agent.Frames.concat;
import static io.mcpsandbox.runtime.agent.Frames.frame;
import static io.mcpsandbox.runtime.agent.Frames.raw;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class FrameReaderTest {

    @Test
    void readsEveryAgentFrameAndEndsCleanlyBetweenFrames() throws IOException {
        FrameReader reader = reader(concat(Frames.ready("mcp-agent 1.0"), Frames.started(7, 42),
                Frames.stdout(7, new byte[] {1, 2, 3}), Frames.stderr(7, new byte[] {4}), Frames.exit(7, 0, 3),
                Frames.exit(8, 1, 9), Frames.error(9, "no such file")));

        AgentFrame ready = reader.next().orElseThrow();
        assertThat(ready.type()).isEqualTo(FrameType.READY);
        assertThat(ready.u16(0)).isEqualTo(AgentProtocol.VERSION);
        assertThat(ready.text(2)).isEqualTo("mcp-agent 1.0");
        AgentFrame started = reader.next().orElseThrow();
        assertThat(started.type()).isEqualTo(FrameType.STARTED);
        assertThat(started.stream()).isEqualTo(7);
        assertThat(started.u32(0)).isEqualTo(42);
        assertThat(reader.next().orElseThrow().payload()).containsExactly(1, 2, 3);
        assertThat(reader.next().orElseThrow().type()).isEqualTo(FrameType.STDERR);
        AgentFrame exit = reader.next().orElseThrow();
        assertThat(exit.u8(0)).isZero();
        assertThat(exit.u8(1)).isEqualTo(3);
        assertThat(reader.next().orElseThrow().u8(1)).isEqualTo(9);
        assertThat(reader.next().orElseThrow().text(0)).isEqualTo("no such file");
        assertThat(reader.next()).isEmpty();
        assertThat(reader.framesRead()).isEqualTo(7);
    }

    @Test
    void theLargestPayloadIsAcceptedAndOneMoreIsRefused() throws IOException {
        assertThat(reader(Frames.stdout(1, new byte[65536])).next().orElseThrow().payload()).hasSize(65536);
        assertViolation(Frames.stdout(1, new byte[65537]), "frame 1: length 65542 is outside 5 .. 65541");
    }

    @Test
    void anEmptyStreamIsACleanEnd() throws IOException {
        assertThat(reader(new byte[0]).next()).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 4, 8, 9, 12})
    void theStreamEndingInsideAFrameIsAViolation(int keep) {
        byte[] whole = Frames.started(1, 5);
        assertViolation(Arrays.copyOf(whole, keep), "frame 1: the stream ended inside the frame");
    }

    @Test
    void theFrameNumberCountsFromOne() throws IOException {
        FrameReader reader = reader(concat(Frames.ready("a"), Frames.started(1, 2), frame(0x42, 1, new byte[0])));
        reader.next();
        reader.next();
        assertThatThrownBy(reader::next).isInstanceOf(AgentProtocolException.class)
                .hasMessage("frame 3: unknown type 0x42");
    }

    /** An absurd length is refused after its 4 bytes are read: nothing is read or allocated for it. */
    @ParameterizedTest
    @ValueSource(longs = {0, 4, 65542, 0x7fffffffL, 0x80000000L, 0xffffffffL})
    void aLengthOutOfBoundsIsRefusedBeforeAnythingElseIsRead(long length) {
        CountingStream in = new CountingStream(raw(length, 0x83, 1, new byte[100]));
        assertThatThrownBy(() -> new FrameReader(in).next()).isInstanceOf(AgentProtocolException.class)
                .hasMessage("frame 1: length " + length + " is outside 5 .. 65541");
        assertThat(in.consumed).isEqualTo(4);
    }

    @Test
    void unknownTypesAndTheHostsTypesAreRefused() {
        assertViolation(frame(0x00, 0, new byte[0]), "frame 1: unknown type 0x00");
        assertViolation(frame(0x91, 0, new byte[0]), "frame 1: unknown type 0x91");
        assertViolation(frame(0x12, 0, new byte[0]), "frame 1: unknown type 0x12");
        assertViolation(frame(0x8a, 1, new byte[1]), "frame 1: stdin_taken with a payload of 1 bytes (allowed: 0)");
        assertViolation(frame(0xff, 0, new byte[0]), "frame 1: unknown type 0xff");
        assertViolation(frame(0x01, 1, new byte[8]), "frame 1: type 0x01 (start) is a host's frame");
        assertViolation(frame(0x02, 1, new byte[1]), "frame 1: type 0x02 (stdin) is a host's frame");
        assertViolation(frame(0x05, 0, new byte[0]), "frame 1: type 0x05 (shutdown) is a host's frame");
        assertViolation(frame(0x07, 1, new byte[1]), "frame 1: type 0x07 (file_chunk) is a host's frame");
        assertViolation(frame(0x0d, 0, new byte[2]), "frame 1: type 0x0d (net_listen) is a host's frame");
        assertViolation(frame(0x0e, -1, new byte[1]), "frame 1: type 0x0e (conn_data) is a host's frame");
        assertViolation(frame(0x11, -1, new byte[0]), "frame 1: type 0x11 (conn_ack) is a host's frame");
    }

    @Test
    void readsTheConnectionFrames() throws IOException {
        FrameReader reader = reader(concat(Frames.netStatus(0, ""), Frames.connOpen(0x80000001),
                Frames.connData(0x80000001, new byte[] {7}), Frames.connEof(0x80000001),
                Frames.connAck(0x80000001), Frames.connClosed(0x80000001), Frames.netStatus(1, "taken")));
        assertThat(reader.next().orElseThrow().type()).isEqualTo(FrameType.NET_STATUS);
        AgentFrame open = reader.next().orElseThrow();
        assertThat(open.type()).isEqualTo(FrameType.CONN_OPEN);
        assertThat(Integer.toUnsignedString(open.stream())).isEqualTo("2147483649");
        AgentFrame data = reader.next().orElseThrow();
        assertThat(data.type()).isEqualTo(FrameType.AGENT_CONN_DATA);
        assertThat(data.type().label()).isEqualTo("conn_data");
        assertThat(data.payload()).containsExactly(7);
        assertThat(reader.next().orElseThrow().type()).isEqualTo(FrameType.AGENT_CONN_EOF);
        assertThat(reader.next().orElseThrow().type()).isEqualTo(FrameType.AGENT_CONN_ACK);
        assertThat(reader.next().orElseThrow().type()).isEqualTo(FrameType.CONN_CLOSED);
        assertThat(reader.next().orElseThrow().text(1)).isEqualTo("taken");
    }

    @Test
    void connectionFramesNeedAConnectionIdAndExactSizes() {
        assertViolation(Frames.connOpen(1), "frame 1: conn_open for stream 1 (a connection id has the top bit set)");
        assertViolation(Frames.connData(0x7fffffff, new byte[1]),
                "frame 1: conn_data for stream 2147483647 (a connection id has the top bit set)");
        assertViolation(Frames.connClosed(0),
                "frame 1: conn_closed for stream 0 (a connection id has the top bit set)");
        assertViolation(frame(0x8c, -1, new byte[1]), "frame 1: conn_open with a payload of 1 bytes (allowed: 0)");
        assertViolation(frame(0x8d, -1, new byte[0]),
                "frame 1: conn_data with a payload of 0 bytes (allowed: 1 .. 65536)");
        assertViolation(frame(0x8d, -1, new byte[65537]), "frame 1: length 65542 is outside 5 .. 65541");
        assertViolation(frame(0x8e, -1, new byte[1]), "frame 1: conn_eof with a payload of 1 bytes (allowed: 0)");
        assertViolation(frame(0x8f, -1, new byte[1]), "frame 1: conn_closed with a payload of 1 bytes (allowed: 0)");
        assertViolation(frame(0x90, -1, new byte[1]), "frame 1: conn_ack with a payload of 1 bytes (allowed: 0)");
    }

    @Test
    void netStatusRules() {
        assertViolation(frame(0x8b, 0, new byte[0]),
                "frame 1: net_status with a payload of 0 bytes (allowed: 1 .. 1025)");
        assertViolation(Frames.netStatus(1, "x".repeat(1025)),
                "frame 1: net_status with a payload of 1026 bytes (allowed: 1 .. 1025)");
        assertViolation(frame(0x8b, 5, new byte[1]), "frame 1: net_status on stream 5 (must be 0)");
        assertViolation(frame(0x8b, 0, new byte[] {2}), "frame 1: net_status with status 2 (must be 0 or 1)");
        assertViolation(frame(0x8b, 0, new byte[] {0, 'x'}), "frame 1: net_status 0 with 1 bytes after it");
        assertViolation(frame(0x8b, 0, new byte[] {1}), "frame 1: net_status error without a reason");
        assertViolation(frame(0x8b, 0, new byte[] {1, (byte) 0xc3}), "frame 1: net_status text is not valid UTF-8");
    }

    @Test
    void sizesAreCheckedBeforeThePayloadIsRead() {
        CountingStream in = new CountingStream(frame(0x85, 1, new byte[3]));
        assertThatThrownBy(() -> new FrameReader(in).next())
                .hasMessage("frame 1: exit with a payload of 3 bytes (allowed: 2)");
        assertThat(in.consumed).isEqualTo(9);
    }

    @Test
    void exactAndBoundedSizesPerType() {
        assertViolation(frame(0x82, 1, new byte[3]), "frame 1: started with a payload of 3 bytes (allowed: 4)");
        assertViolation(frame(0x82, 1, new byte[5]), "frame 1: started with a payload of 5 bytes (allowed: 4)");
        assertViolation(frame(0x85, 1, new byte[1]), "frame 1: exit with a payload of 1 bytes (allowed: 2)");
        assertViolation(frame(0x83, 1, new byte[0]), "frame 1: stdout with a payload of 0 bytes (allowed: 1 .. 65536)");
        assertViolation(frame(0x84, 1, new byte[0]), "frame 1: stderr with a payload of 0 bytes (allowed: 1 .. 65536)");
        assertViolation(frame(0x86, 1, new byte[0]), "frame 1: error with a payload of 0 bytes (allowed: 1 .. 1024)");
        assertViolation(Frames.error(1, "x".repeat(1025)),
                "frame 1: error with a payload of 1025 bytes (allowed: 1 .. 1024)");
        assertViolation(frame(0x81, 0, new byte[1]), "frame 1: ready with a payload of 1 bytes (allowed: 2 .. 66)");
        assertViolation(Frames.ready("n".repeat(65)), "frame 1: ready with a payload of 67 bytes (allowed: 2 .. 66)");
    }

    @Test
    void theLargestTextsAreAccepted() throws IOException {
        assertThat(reader(Frames.error(1, "é".repeat(512))).next().orElseThrow().text(0)).hasSize(512);
        assertThat(reader(Frames.ready("n".repeat(64))).next().orElseThrow().text(2)).hasSize(64);
        assertThat(reader(Frames.ready("")).next().orElseThrow().text(2)).isEmpty();
    }

    @Test
    void readyRules() {
        assertViolation(frame(0x81, 3, new byte[] {0, 1}), "frame 1: ready on stream 3 (must be 0)");
        assertViolation(frame(0x81, -1, new byte[] {0, 1}), "frame 1: ready on stream 4294967295 (must be 0)");
        assertViolation(frame(0x81, 0, new byte[] {0, 1}),
                "frame 1: ready for protocol version 1 (this host speaks 3)");
        assertViolation(frame(0x81, 0, new byte[] {0, 2}),
                "frame 1: ready for protocol version 2 (this host speaks 3)");
        assertViolation(frame(0x81, 0, new byte[] {1, 2}),
                "frame 1: ready for protocol version 258 (this host speaks 3)");
        assertViolation(frame(0x81, 0, new byte[] {0, 3, 'a', (byte) 0xc3}),
                "frame 1: ready text is not valid UTF-8");
    }

    @ParameterizedTest
    @ValueSource(strings = {"ff", "c0af", "c3", "eda080", "f4908080", "e282"})
    void errorTextMustBeValidUtf8(String hex) {
        byte[] bad = HexFormat.of().parseHex(hex);
        assertViolation(frame(0x86, 1, concat("why: ".getBytes(), bad)), "frame 1: error text is not valid UTF-8");
    }

    @Test
    void startedAndExitContentRules() throws IOException {
        assertViolation(Frames.started(1, 0), "frame 1: started with pid 0 (must be 1 .. 2^31-1)");
        assertViolation(Frames.started(1, 0x80000000), "frame 1: started with pid 2147483648 (must be 1 .. 2^31-1)");
        assertViolation(Frames.exit(1, 2, 0), "frame 1: exit of kind 2 (must be 0 or 1)");
        assertViolation(Frames.exit(1, 1, 0), "frame 1: exit by signal 0 (must be 1 .. 64)");
        assertViolation(Frames.exit(1, 1, 65), "frame 1: exit by signal 65 (must be 1 .. 64)");
        assertThat(reader(Frames.exit(1, 0, 255)).next().orElseThrow().u8(1)).isEqualTo(255);
        assertThat(reader(Frames.exit(1, 1, 64)).next().orElseThrow().u8(1)).isEqualTo(64);
        assertThat(reader(Frames.started(1, Integer.MAX_VALUE)).next().orElseThrow().u32(0))
                .isEqualTo(Integer.MAX_VALUE);
    }

    @Test
    void fileFramesAreReadWithTheirFields() throws IOException {
        FrameReader reader = reader(concat(Frames.fileData(3, new byte[] {0, 1, 0}),
                Frames.fileEntry(4, 2, Long.MAX_VALUE, -5, "a b".getBytes()), Frames.fileDone(4, 2),
                Frames.fileError(5, "no such file")));
        assertThat(reader.next().orElseThrow().payload()).containsExactly(0, 1, 0);
        AgentFrame entry = reader.next().orElseThrow();
        FileEntry parsed = FileEntry.of(entry);
        assertThat(parsed).isEqualTo(new FileEntry("a b", true, FileEntry.Kind.LINK, Long.MAX_VALUE, -5));
        assertThat(reader.next().orElseThrow().u8(0)).isEqualTo(2);
        assertThat(reader.next().orElseThrow().text(1)).isEqualTo("no such file");
        assertThat(reader.next()).isEmpty();
        assertThat(FileEntry.of(reader(Frames.fileEntry(1, 0, 0, 0, new byte[] {'x', (byte) 0xff})).next()
                .orElseThrow())).isEqualTo(new FileEntry("x\ufffd", false, FileEntry.Kind.FILE, 0, 0));
        assertThat(reader(Frames.fileEntry(1, 0, 0, 0, "n".repeat(255).getBytes())).next()).isPresent();
        assertThat(reader(Frames.fileEntry(1, 3, 0, 0, "...".getBytes())).next()).isPresent();
        assertThat(reader(Frames.fileError(1, "é".repeat(512))).next()).isPresent();
    }

    @Test
    void fileFrameSizeAndContentRules() {
        assertViolation(Frames.fileData(1, new byte[0]),
                "frame 1: file_data with a payload of 0 bytes (allowed: 1 .. 65536)");
        assertViolation(Frames.fileData(1, new byte[65537]), "frame 1: length 65542 is outside 5 .. 65541");
        assertViolation(Frames.fileEntry(1, 0, 0, 0, new byte[0]),
                "frame 1: file_entry with a payload of 17 bytes (allowed: 18 .. 272)");
        assertViolation(Frames.fileEntry(1, 0, 0, 0, "n".repeat(256).getBytes()),
                "frame 1: file_entry with a payload of 273 bytes (allowed: 18 .. 272)");
        assertViolation(Frames.fileEntry(1, 4, 0, 0, "a".getBytes()), "frame 1: file_entry of kind 4 (must be 0 .. 3)");
        assertViolation(Frames.fileEntry(1, 0, -1, 0, "a".getBytes()), "frame 1: file_entry with a size above 2^63-1");
        for (String name : List.of("a/b", "/", "a\0b", "\0")) {
            assertViolation(Frames.fileEntry(1, 0, 0, 0, name.getBytes()),
                    "frame 1: file_entry with a name that holds '/' or NUL");
        }
        assertViolation(Frames.fileEntry(1, 1, 0, 0, ".".getBytes()), "frame 1: file_entry named \".\" or \"..\"");
        assertViolation(Frames.fileEntry(1, 1, 0, 0, "..".getBytes()), "frame 1: file_entry named \".\" or \"..\"");
        assertViolation(frame(0x89, 1, new byte[0]),
                "frame 1: file_done with a payload of 0 bytes (allowed: 1 .. 1025)");
        assertViolation(Frames.fileDone(1, 3), "frame 1: file_done with status 3 (must be 0 .. 2)");
        assertViolation(frame(0x89, 1, new byte[] {1}), "frame 1: file_done error without a reason");
        assertViolation(frame(0x89, 1, new byte[] {0, 'x'}), "frame 1: file_done with status 0 and 1 bytes after it");
        assertViolation(frame(0x89, 1, new byte[] {2, 'x'}), "frame 1: file_done with status 2 and 1 bytes after it");
        assertViolation(frame(0x89, 1, new byte[] {1, 'x', (byte) 0xc3}), "frame 1: file_done text is not valid UTF-8");
        assertViolation(Frames.fileError(1, "x".repeat(1025)),
                "frame 1: file_done with a payload of 1026 bytes (allowed: 1 .. 1025)");
    }

    /** Random bytes: the reader ends cleanly or with a violation, never anything else, never asking much. */
    @Test
    void randomBytesNeverBreakTheReader() {
        Random random = new Random(11);
        for (int round = 0; round < 2000; round++) {
            byte[] junk = new byte[random.nextInt(200)];
            random.nextBytes(junk);
            if (round % 2 == 0 && junk.length >= 5) {
                // Half the rounds get a plausible length and an agent type, to reach deeper rules.
                junk[0] = 0;
                junk[1] = 0;
                junk[4] = (byte) (0x81 + random.nextInt(9));
            }
            readToTheEnd(junk);
        }
    }

    /** Valid streams with bytes flipped, cut, inserted or repeated: same promise. */
    @Test
    void mutatedValidStreamsNeverBreakTheReader() {
        byte[] valid = concat(Frames.ready("mcp-agent"), Frames.started(1, 10), Frames.stdout(1, new byte[300]),
                Frames.stderr(1, "warn".getBytes()), Frames.exit(1, 0, 0), Frames.error(2, "nope"),
                Frames.fileData(3, new byte[40]), Frames.fileEntry(4, "name"), Frames.fileError(5, "why"));
        Random random = new Random(12);
        for (int round = 0; round < 3000; round++) {
            readToTheEnd(Mutations.mutate(valid, random));
        }
    }

    private static void readToTheEnd(byte[] bytes) {
        CountingStream in = new CountingStream(bytes);
        FrameReader reader = new FrameReader(in);
        try {
            while (reader.next().isPresent()) {
                assertThat(reader.framesRead()).isLessThanOrEqualTo(bytes.length / 9);
            }
        } catch (AgentProtocolException expected) {
            assertThat(expected.getMessage()).startsWith("frame " + reader.framesRead() + ": ");
        } catch (IOException e) {
            throw new AssertionError("not a protocol violation: " + e, e);
        }
        assertThat(in.largestRequest).isLessThanOrEqualTo(AgentProtocol.MAX_PAYLOAD);
    }

    private static FrameReader reader(byte[] bytes) {
        return new FrameReader(new ByteArrayInputStream(bytes));
    }

    private static void assertViolation(byte[] bytes, String message) {
        FrameReader reader = reader(bytes);
        assertThatThrownBy(() -> {
            Optional<AgentFrame> frame;
            do {
                frame = reader.next();
            } while (frame.isPresent());
        }).isInstanceOf(AgentProtocolException.class).hasMessage(message);
    }

    /** Counts the bytes consumed and the largest read asked for. */
    static final class CountingStream extends FilterInputStream {
        long consumed;
        int largestRequest;

        CountingStream(byte[] bytes) {
            super(new ByteArrayInputStream(bytes));
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            consumed += b < 0 ? 0 : 1;
            return b;
        }

        @Override
        public int read(byte[] into, int offset, int length) throws IOException {
            largestRequest = Math.max(largestRequest, length);
            int n = super.read(into, offset, length);
            consumed += Math.max(n, 0);
            return n;
        }
    }

    /** Random edits of a valid stream. */
    static final class Mutations {
        private Mutations() {
        }

        static byte[] mutate(byte[] valid, Random random) {
            List<Byte> bytes = new ArrayList<>();
            for (byte b : valid) {
                bytes.add(b);
            }
            int edits = 1 + random.nextInt(4);
            for (int i = 0; i < edits && !bytes.isEmpty(); i++) {
                int at = random.nextInt(bytes.size());
                switch (random.nextInt(5)) {
                    case 0 -> bytes.set(at, (byte) random.nextInt(256));
                    case 1 -> bytes.set(at, (byte) (bytes.get(at) ^ (1 << random.nextInt(8))));
                    case 2 -> bytes.subList(at, bytes.size()).clear();
                    case 3 -> bytes.add(at, (byte) random.nextInt(256));
                    default -> {
                        int end = Math.min(bytes.size(), at + 1 + random.nextInt(40));
                        bytes.addAll(at, new ArrayList<>(bytes.subList(at, end)));
                    }
                }
            }
            byte[] out = new byte[bytes.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = bytes.get(i);
            }
            return out;
        }
    }
}
