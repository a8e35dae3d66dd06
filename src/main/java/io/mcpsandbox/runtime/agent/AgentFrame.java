package io.mcpsandbox.runtime.agent;

import java.nio.charset.StandardCharsets;

/**
 * One frame: its type, its stream (the u32 on the wire, held as an int: print it with
 * {@link Integer#toUnsignedString(int)}) and its payload. The payload array is handed over, not copied: whoever
 * receives a frame owns it.
 */
public record AgentFrame(FrameType type, int stream, byte[] payload) {

    /** The unsigned byte at {@code index}. */
    public int u8(int index) {
        return payload[index] & 0xff;
    }

    /** The big-endian u16 at {@code index}. */
    public int u16(int index) {
        return (u8(index) << 8) | u8(index + 1);
    }

    /** The big-endian u32 at {@code index}. */
    public long u32(int index) {
        return ((long) u8(index) << 24) | (u8(index + 1) << 16) | (u8(index + 2) << 8) | u8(index + 3);
    }

    /** The big-endian 64-bit value at {@code index} (signed as Java holds it). */
    public long s64(int index) {
        return (u32(index) << 32) | u32(index + 4);
    }

    /** The payload from {@code from} on as UTF-8 (the reader has checked it is valid for text frames). */
    public String text(int from) {
        return new String(payload, from, payload.length - from, StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return type.label() + "(stream " + Integer.toUnsignedString(stream) + ", " + payload.length + " bytes)";
    }
}
