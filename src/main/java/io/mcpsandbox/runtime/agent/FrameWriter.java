package io.mcpsandbox.runtime.agent;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Encodes the host's frames (docs/agent-protocol.md) and writes each one whole: concurrent callers never
 * interleave inside a frame. What the spec refuses is refused here, before a byte is written, with an
 * {@link IllegalArgumentException} (a caller's mistake, not the agent's).
 */
public final class FrameWriter {
    private final OutputStream out;

    public FrameWriter(OutputStream out) {
        this.out = out;
    }

    /** Writes one encoded frame and flushes it. */
    public synchronized void write(byte[] frame) throws IOException {
        out.write(frame);
        out.flush();
    }

    public void start(int id, List<String> argv, Map<String, String> env, String cwd) throws IOException {
        write(encodeStart(id, argv, env, cwd));
    }

    /**
     * Sends {@code data} to process {@code id}'s stdin in frames of at most 65536 bytes; nothing for no bytes.
     * Other frames may go between two of those frames.
     */
    public void stdin(int id, byte[] data) throws IOException {
        checkId(id);
        for (int offset = 0; offset < data.length; offset += AgentProtocol.MAX_PAYLOAD) {
            int size = Math.min(AgentProtocol.MAX_PAYLOAD, data.length - offset);
            write(encode(FrameType.STDIN, id, data, offset, size));
        }
    }

    public void stdinClose(int id) throws IOException {
        checkId(id);
        write(encode(FrameType.STDIN_CLOSE, id, new byte[0], 0, 0));
    }

    /** Sends signal {@code signo} (1 .. 64) to process {@code id}'s process group. */
    public void signal(int id, int signo) throws IOException {
        checkId(id);
        if (signo < 1 || signo > AgentProtocol.MAX_SIGNAL) {
            throw new IllegalArgumentException("signal " + signo + " is outside 1 .. " + AgentProtocol.MAX_SIGNAL);
        }
        write(encode(FrameType.SIGNAL, id, new byte[] {(byte) signo}, 0, 1));
    }

    /** Tells the agent to kill every process and exit. */
    public void shutdown() throws IOException {
        write(encode(FrameType.SHUTDOWN, 0, new byte[0], 0, 0));
    }

    /**
     * The {@code start} frame: {@code u16 argc, u16 envc, cwd\0, argv\0..., NAME=value\0...}. The env goes in
     * name order, so the same request always makes the same bytes.
     */
    public static byte[] encodeStart(int id, List<String> argv, Map<String, String> env, String cwd) {
        checkId(id);
        if (argv.isEmpty() || argv.size() > AgentProtocol.MAX_ARGS) {
            throw new IllegalArgumentException(argv.size() + " arguments (allowed: 1 .. " + AgentProtocol.MAX_ARGS
                    + ")");
        }
        if (env.size() > AgentProtocol.MAX_ENV) {
            throw new IllegalArgumentException(env.size() + " environment variables (allowed: at most "
                    + AgentProtocol.MAX_ENV + ")");
        }
        ByteArrayOutputStream payload = new ByteArrayOutputStream();
        payload.write(argv.size() >> 8);
        payload.write(argv.size());
        payload.write(env.size() >> 8);
        payload.write(env.size());
        putString(payload, "cwd", cwd);
        for (String arg : argv) {
            putString(payload, "argument", arg);
        }
        for (Map.Entry<String, String> variable : new TreeMap<>(env).entrySet()) {
            String name = variable.getKey();
            if (name.isEmpty() || name.indexOf('=') >= 0) {
                throw new IllegalArgumentException("environment variable name '" + name + "' is empty or has '='");
            }
            putString(payload, "environment variable", name + "=" + variable.getValue());
        }
        if (payload.size() > AgentProtocol.MAX_PAYLOAD) {
            throw new IllegalArgumentException("start payload of " + payload.size() + " bytes is over "
                    + AgentProtocol.MAX_PAYLOAD);
        }
        byte[] bytes = payload.toByteArray();
        return encode(FrameType.START, id, bytes, 0, bytes.length);
    }

    /** One frame: {@code u32 length, u8 type, u32 stream, payload}. */
    static byte[] encode(FrameType type, int stream, byte[] data, int offset, int size) {
        if (!type.allowsSize(size)) {
            throw new IllegalArgumentException(type.label() + " with a payload of " + size + " bytes");
        }
        return ByteBuffer.allocate(4 + AgentProtocol.MIN_LENGTH + size)
                .putInt(AgentProtocol.MIN_LENGTH + size)
                .put((byte) type.code())
                .putInt(stream)
                .put(data, offset, size)
                .array();
    }

    private static void checkId(int id) {
        if (id < 1) {
            throw new IllegalArgumentException("process id " + id + " is outside 1 .. 2^31-1");
        }
    }

    /** A string and its NUL: non-empty, no NUL inside, well-formed (no lone surrogate), as UTF-8. */
    private static void putString(ByteArrayOutputStream into, String what, String value) {
        if (value.isEmpty()) {
            throw new IllegalArgumentException("empty " + what);
        }
        if (value.indexOf('\0') >= 0) {
            throw new IllegalArgumentException(what + " contains NUL");
        }
        try {
            ByteBuffer utf8 = StandardCharsets.UTF_8.newEncoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .encode(CharBuffer.wrap(value));
            into.write(utf8.array(), utf8.arrayOffset() + utf8.position(), utf8.remaining());
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(what + " is not well-formed Unicode");
        }
        into.write(0);
    }
}
