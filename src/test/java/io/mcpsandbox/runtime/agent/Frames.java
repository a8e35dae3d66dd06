package io.mcpsandbox.runtime.agent;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Agent frames as bytes, built by hand from the spec's layout (not by the code under test). */
final class Frames {
    private Frames() {
    }

    static byte[] raw(long length, int type, int stream, byte[] payload) {
        return ByteBuffer.allocate(9 + payload.length).putInt((int) length).put((byte) type).putInt(stream)
                .put(payload).array();
    }

    static byte[] frame(int type, int stream, byte[] payload) {
        return raw(5 + payload.length, type, stream, payload);
    }

    static byte[] ready(String name) {
        byte[] text = name.getBytes(StandardCharsets.UTF_8);
        return frame(0x81, 0,
                ByteBuffer.allocate(2 + text.length).putShort((short) AgentProtocol.VERSION).put(text).array());
    }

    static byte[] started(int id, int pid) {
        return frame(0x82, id, ByteBuffer.allocate(4).putInt(pid).array());
    }

    static byte[] stdout(int id, byte[] data) {
        return frame(0x83, id, data);
    }

    static byte[] stderr(int id, byte[] data) {
        return frame(0x84, id, data);
    }

    static byte[] exit(int id, int kind, int value) {
        return frame(0x85, id, new byte[] {(byte) kind, (byte) value});
    }

    static byte[] error(int id, String text) {
        return frame(0x86, id, text.getBytes(StandardCharsets.UTF_8));
    }

    static byte[] fileData(int id, byte[] data) {
        return frame(0x87, id, data);
    }

    static byte[] fileEntry(int id, int kind, long size, long mtime, byte[] name) {
        return frame(0x88, id, ByteBuffer.allocate(17 + name.length).put((byte) kind).putLong(size).putLong(mtime)
                .put(name).array());
    }

    static byte[] fileEntry(int id, String name) {
        return fileEntry(id, 0, 1, 2, name.getBytes(StandardCharsets.UTF_8));
    }

    static byte[] fileDone(int id, int status) {
        return frame(0x89, id, new byte[] {(byte) status});
    }

    static byte[] fileError(int id, String reason) {
        return frame(0x89, id, concat(new byte[] {1}, reason.getBytes(StandardCharsets.UTF_8)));
    }

    static byte[] netStatus(int status, String reason) {
        return frame(0x8b, 0, concat(new byte[] {(byte) status}, reason.getBytes(StandardCharsets.UTF_8)));
    }

    static byte[] connOpen(int id) {
        return frame(0x8c, id, new byte[0]);
    }

    static byte[] connData(int id, byte[] data) {
        return frame(0x8d, id, data);
    }

    static byte[] connEof(int id) {
        return frame(0x8e, id, new byte[0]);
    }

    static byte[] connClosed(int id) {
        return frame(0x8f, id, new byte[0]);
    }

    static byte[] connAck(int id) {
        return frame(0x90, id, new byte[0]);
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }

    /** A host frame decoded by hand: type code, stream, payload. */
    record HostFrame(int type, int stream, byte[] payload) {
    }

    /** Splits what the host wrote into frames (the test's own decoder, independent of the reader). */
    static List<HostFrame> hostFrames(byte[] written) {
        ByteBuffer in = ByteBuffer.wrap(written);
        List<HostFrame> frames = new ArrayList<>();
        while (in.hasRemaining()) {
            int length = in.getInt();
            int type = in.get() & 0xff;
            int stream = in.getInt();
            byte[] payload = new byte[length - 5];
            in.get(payload);
            frames.add(new HostFrame(type, stream, payload));
        }
        return frames;
    }
}
