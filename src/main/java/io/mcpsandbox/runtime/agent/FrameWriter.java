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

    /** {@code net_listen}: the agent listens on 127.0.0.1:{@code port} (1 .. 65535). */
    public static byte[] encodeNetListen(int port) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " is outside 1 .. 65535");
        }
        return encode(FrameType.NET_LISTEN, 0, new byte[] {(byte) (port >> 8), (byte) port}, 0, 2);
    }

    /** A connection frame: {@code conn_data} (1 .. 65536 bytes), or an empty conn_eof, conn_close, conn_ack. */
    static byte[] encodeConnection(FrameType type, int connection, byte[] data, int offset, int size) {
        if ((connection & AgentProtocol.CONNECTION_BIT) == 0 || connection == AgentProtocol.CONNECTION_BIT) {
            throw new IllegalArgumentException("stream " + Integer.toUnsignedString(connection)
                    + " is no connection id");
        }
        if (type != FrameType.CONN_DATA && type != FrameType.CONN_EOF && type != FrameType.CONN_CLOSE
                && type != FrameType.CONN_ACK) {
            throw new IllegalArgumentException(type.label() + " is no host connection frame");
        }
        return encode(type, connection, data, offset, size);
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

    /** {@code file_write}: {@code u32 mode} (permission bits only), then the path and its NUL. */
    public static byte[] encodeFileWrite(int id, int mode, String path) {
        int bits = mode & ~AgentProtocol.MAKE_PARENTS;
        if (bits < 0 || bits > AgentProtocol.MAX_MODE) {
            throw new IllegalArgumentException(String.format("mode 0%o is not permission bits (0 .. 0777) and the "
                    + "make-parents flag", mode));
        }
        return encodeFileFrame(FrameType.FILE_WRITE, id, ByteBuffer.allocate(4).putInt(mode).array(), path, false);
    }

    /** {@code file_read}: {@code u64 maxBytes} (1 .. 2^63-1), then the path and its NUL. */
    public static byte[] encodeFileRead(int id, long maxBytes, String path) {
        if (maxBytes < 1) {
            throw new IllegalArgumentException("maxBytes " + maxBytes + " is outside 1 .. 2^63-1");
        }
        return encodeFileFrame(FrameType.FILE_READ, id, ByteBuffer.allocate(8).putLong(maxBytes).array(), path,
                false);
    }

    /** {@code file_list}: {@code u32 maxEntries} (at least 1), then the directory's path and its NUL. */
    public static byte[] encodeFileList(int id, int maxEntries, String dir) {
        if (maxEntries < 1) {
            throw new IllegalArgumentException("maxEntries " + maxEntries + " is below 1");
        }
        return encodeFileFrame(FrameType.FILE_LIST, id, ByteBuffer.allocate(4).putInt(maxEntries).array(), dir,
                true);
    }

    /** {@code file_delete}: the path and its NUL. */
    public static byte[] encodeFileDelete(int id, String path) {
        return encodeFileFrame(FrameType.FILE_DELETE, id, new byte[0], path, false);
    }

    /**
     * The path as the agent takes it: absolute, well-formed Unicode, at most 4096 bytes of UTF-8, no NUL and no
     * empty, "." or ".." component; "/" itself only where {@code rootAllowed} (a listing).
     */
    static byte[] pathBytes(String path, boolean rootAllowed) {
        if (!path.startsWith("/")) {
            throw new IllegalArgumentException("path '" + path + "' is not absolute");
        }
        if (path.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("path contains NUL");
        }
        if (path.equals("/")) {
            if (!rootAllowed) {
                throw new IllegalArgumentException("path / names no file");
            }
        } else {
            for (String component : path.substring(1).split("/", -1)) {
                if (component.isEmpty() || component.equals(".") || component.equals("..")) {
                    throw new IllegalArgumentException("path '" + path + "' has an empty, '.' or '..' component");
                }
            }
        }
        byte[] bytes = utf8("path", path);
        if (bytes.length > AgentProtocol.MAX_PATH) {
            throw new IllegalArgumentException("path of " + bytes.length + " bytes is over "
                    + AgentProtocol.MAX_PATH);
        }
        return bytes;
    }

    private static byte[] encodeFileFrame(FrameType type, int id, byte[] head, String path, boolean rootAllowed) {
        checkId(id);
        byte[] name = pathBytes(path, rootAllowed);
        byte[] payload = ByteBuffer.allocate(head.length + name.length + 1).put(head).put(name).put((byte) 0)
                .array();
        return encode(type, id, payload, 0, payload.length);
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
        into.writeBytes(utf8(what, value));
        into.write(0);
    }

    private static byte[] utf8(String what, String value) {
        try {
            ByteBuffer utf8 = StandardCharsets.UTF_8.newEncoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .encode(CharBuffer.wrap(value));
            byte[] bytes = new byte[utf8.remaining()];
            utf8.get(bytes);
            return bytes;
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(what + " is not well-formed Unicode");
        }
    }
}
