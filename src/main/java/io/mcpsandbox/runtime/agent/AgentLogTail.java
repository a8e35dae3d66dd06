package io.mcpsandbox.runtime.agent;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Reads the agent's log (its fd 2) to its end on a thread of its own and keeps the last {@link #TAIL_BYTES}:
 * the sandbox may write without end there, so the rest is read and dropped (a full pipe would stall the agent).
 */
public final class AgentLogTail {
    static final int TAIL_BYTES = 1024;

    private final byte[] tail = new byte[TAIL_BYTES];
    private int length;

    private AgentLogTail() {
    }

    /** Starts following {@code log}; the reading thread ends with the stream. */
    public static AgentLogTail follow(InputStream log, String name) {
        AgentLogTail tail = new AgentLogTail();
        Thread.ofPlatform().daemon().name("agent-log-" + name).start(() -> tail.readAll(log));
        return tail;
    }

    private void readAll(InputStream log) {
        byte[] buffer = new byte[8192];
        try (log) {
            int n;
            while ((n = log.read(buffer)) > 0) {
                append(buffer, n);
            }
        } catch (IOException e) {
            // the sandbox is gone: what was read is kept
        }
    }

    private synchronized void append(byte[] buffer, int n) {
        if (n >= TAIL_BYTES) {
            System.arraycopy(buffer, n - TAIL_BYTES, tail, 0, TAIL_BYTES);
            length = TAIL_BYTES;
            return;
        }
        int keep = Math.min(length, TAIL_BYTES - n);
        System.arraycopy(tail, length - keep, tail, 0, keep);
        System.arraycopy(buffer, 0, tail, keep, n);
        length = keep + n;
    }

    /** The last bytes the agent logged as one printable line; empty when it logged nothing. */
    public synchronized String text() {
        return ChannelState.printable(new String(Arrays.copyOf(tail, length), StandardCharsets.UTF_8)).strip();
    }

    /** {@code "; the agent logged: ..."} for a message, or nothing. */
    public String describe() {
        String text = text();
        return text.isEmpty() ? "" : "; the agent logged: " + text;
    }
}
