package io.mcpsandbox.runtime.agent;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * Reads the agent's frames strictly (docs/agent-protocol.md): every field is checked before the next is read,
 * so the length is bounded before anything is allocated for it and no read ever asks for more than one frame.
 * A frame that breaks a rule, or a stream that ends inside a frame, is an {@link AgentProtocolException}; the
 * order of frames is {@link ChannelState}'s job. Not thread-safe: one reader thread.
 */
public final class FrameReader {
    private static final int HEADER = 9;

    private final InputStream in;
    private long frames;

    public FrameReader(InputStream in) {
        this.in = in;
    }

    /** How many frames have begun (the number of the last frame returned or refused). */
    public long framesRead() {
        return frames;
    }

    /** The next frame, or empty when the stream ends cleanly between frames. */
    public Optional<AgentFrame> next() throws IOException {
        int first = in.read();
        if (first < 0) {
            return Optional.empty();
        }
        long n = ++frames;
        byte[] head = new byte[HEADER];
        head[0] = (byte) first;
        readFully(n, head, 1, 3);
        long length = ByteBuffer.wrap(head).getInt() & 0xffffffffL;
        if (length < AgentProtocol.MIN_LENGTH || length > AgentProtocol.MAX_LENGTH) {
            throw AgentProtocolException.at(n, "length " + length + " is outside " + AgentProtocol.MIN_LENGTH
                    + " .. " + AgentProtocol.MAX_LENGTH);
        }
        readFully(n, head, 4, 5);
        int code = head[4] & 0xff;
        FrameType type = FrameType.ofCode(code).orElseThrow(() ->
                AgentProtocolException.at(n, String.format("unknown type 0x%02x", code)));
        if (type.direction() != FrameType.Direction.TO_HOST) {
            throw AgentProtocolException.at(n, String.format("type 0x%02x (%s) is a host's frame", code,
                    type.label()));
        }
        int size = (int) length - AgentProtocol.MIN_LENGTH;
        if (!type.allowsSize(size)) {
            throw AgentProtocolException.at(n, type.label() + " with a payload of " + size + " bytes (allowed: "
                    + type.sizeRule() + ")");
        }
        byte[] payload = new byte[size];
        readFully(n, payload, 0, size);
        AgentFrame frame = new AgentFrame(type, ByteBuffer.wrap(head, 5, 4).getInt(), payload);
        checkContent(n, frame);
        return Optional.of(frame);
    }

    private void readFully(long n, byte[] into, int offset, int count) throws IOException {
        if (in.readNBytes(into, offset, count) < count) {
            throw AgentProtocolException.at(n, "the stream ended inside the frame");
        }
    }

    /** The rules inside a payload of an allowed size. */
    private static void checkContent(long n, AgentFrame frame) throws AgentProtocolException {
        switch (frame.type()) {
            case READY -> {
                if (frame.stream() != 0) {
                    throw AgentProtocolException.at(n, "ready on stream " + Integer.toUnsignedString(frame.stream())
                            + " (must be 0)");
                }
                if (frame.u16(0) != AgentProtocol.VERSION) {
                    throw AgentProtocolException.at(n, "ready for protocol version " + frame.u16(0)
                            + " (this host speaks " + AgentProtocol.VERSION + ")");
                }
                checkUtf8(n, frame, 2);
            }
            case STARTED -> {
                long pid = frame.u32(0);
                if (pid == 0 || pid > Integer.MAX_VALUE) {
                    throw AgentProtocolException.at(n, "started with pid " + pid + " (must be 1 .. 2^31-1)");
                }
            }
            case EXIT -> {
                int kind = frame.u8(0);
                int value = frame.u8(1);
                if (kind > 1) {
                    throw AgentProtocolException.at(n, "exit of kind " + kind + " (must be 0 or 1)");
                }
                if (kind == 1 && (value < 1 || value > AgentProtocol.MAX_SIGNAL)) {
                    throw AgentProtocolException.at(n, "exit by signal " + value + " (must be 1 .. "
                            + AgentProtocol.MAX_SIGNAL + ")");
                }
            }
            case ERROR -> checkUtf8(n, frame, 0);
            case FILE_ENTRY -> checkEntry(n, frame);
            case FILE_DONE -> checkDone(n, frame);
            case NET_STATUS -> checkNetStatus(n, frame);
            case CONN_OPEN, AGENT_CONN_DATA, AGENT_CONN_EOF, CONN_CLOSED, AGENT_CONN_ACK -> {
                if ((frame.stream() & AgentProtocol.CONNECTION_BIT) == 0) {
                    throw AgentProtocolException.at(n, frame.type().label() + " for stream "
                            + Integer.toUnsignedString(frame.stream()) + " (a connection id has the top bit set)");
                }
            }
            default -> {
                // stdout and stderr: any bytes; their size was checked with the length.
            }
        }
    }

    /** u8 kind (0 .. 3), u64 size (at most 2^63-1), i64 mtime, then a name: no '/' or NUL, not "." or "..". */
    private static void checkEntry(long n, AgentFrame frame) throws AgentProtocolException {
        if (frame.u8(0) > FileEntry.Kind.values().length - 1) {
            throw AgentProtocolException.at(n, "file_entry of kind " + frame.u8(0) + " (must be 0 .. 3)");
        }
        if (frame.s64(1) < 0) {
            throw AgentProtocolException.at(n, "file_entry with a size above 2^63-1");
        }
        byte[] p = frame.payload();
        for (int i = AgentProtocol.ENTRY_HEADER; i < p.length; i++) {
            if (p[i] == '/' || p[i] == 0) {
                throw AgentProtocolException.at(n, "file_entry with a name that holds '/' or NUL");
            }
        }
        int nameLength = p.length - AgentProtocol.ENTRY_HEADER;
        if (p[p.length - 1] == '.' && (nameLength == 1 || nameLength == 2 && p[p.length - 2] == '.')) {
            throw AgentProtocolException.at(n, "file_entry named \".\" or \"..\"");
        }
    }

    /** u8 status: 0 ok or 2 truncated alone, 1 error with a reason (1 .. 1024 bytes of UTF-8). */
    private static void checkDone(long n, AgentFrame frame) throws AgentProtocolException {
        int status = frame.u8(0);
        int size = frame.payload().length;
        if (status > 2) {
            throw AgentProtocolException.at(n, "file_done with status " + status + " (must be 0 .. 2)");
        }
        if (status == 1 && size == 1) {
            throw AgentProtocolException.at(n, "file_done error without a reason");
        }
        if (status != 1 && size != 1) {
            throw AgentProtocolException.at(n, "file_done with status " + status + " and " + (size - 1)
                    + " bytes after it");
        }
        if (status == 1) {
            checkUtf8(n, frame, 1);
        }
    }

    /** On stream 0, u8 status: 0 listening (alone); 1 error with a reason (1 .. 1024 bytes of UTF-8). */
    private static void checkNetStatus(long n, AgentFrame frame) throws AgentProtocolException {
        int status = frame.u8(0);
        int size = frame.payload().length;
        if (frame.stream() != 0) {
            throw AgentProtocolException.at(n, "net_status on stream " + Integer.toUnsignedString(frame.stream())
                    + " (must be 0)");
        }
        if (status > 1) {
            throw AgentProtocolException.at(n, "net_status with status " + status + " (must be 0 or 1)");
        }
        if (status == 0 && size != 1) {
            throw AgentProtocolException.at(n, "net_status 0 with " + (size - 1) + " bytes after it");
        }
        if (status == 1 && size == 1) {
            throw AgentProtocolException.at(n, "net_status error without a reason");
        }
        if (status == 1) {
            checkUtf8(n, frame, 1);
        }
    }

    private static void checkUtf8(long n, AgentFrame frame, int from) throws AgentProtocolException {
        try {
            StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(frame.payload(), from, frame.payload().length - from));
        } catch (CharacterCodingException e) {
            throw AgentProtocolException.at(n, frame.type().label() + " text is not valid UTF-8");
        }
    }
}
