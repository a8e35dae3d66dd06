package io.mcpsandbox.runtime.agent;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One TCP connection a program in the sandbox opened to the agent's egress port, relayed over the channel, and
 * the rules over what the agent says about it: at most one {@code conn_data} the host has not acknowledged,
 * nothing after its {@code conn_eof} but its close, a {@code conn_ack} only for a {@code conn_data} in flight.
 * The agent's frames come in on the channel's reader thread and never block; the caller's threads block in
 * {@link #input()} and {@link #output()}, and every such wait ends when the connection or the channel ends.
 */
public final class AgentConnection implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(AgentConnection.class);

    /** Where the connection's frames go: the channel's writer, which ends the channel when it fails. */
    @FunctionalInterface
    interface FrameSink {
        void send(byte[] frame) throws IOException;
    }

    private final int id;
    private final FrameSink sink;
    private final Runnable forget;
    private final Input input = new Input();
    private final Output output = new Output();
    /** Held by the one thread sending conn_data or conn_eof: frames of two writes never interleave. */
    private final Object sending = new Object();

    // Guarded by this.
    private byte[] incoming;
    private int incomingOffset;
    /** The agent's conn_data the host has not acknowledged yet (set on arrival, cleared just before the ack). */
    private boolean agentDataUnacked;
    private boolean agentEof;
    private boolean agentClosed;
    private boolean hostClosed;
    private boolean hostEof;
    /** The host's conn_data the agent has not acknowledged yet. */
    private boolean hostDataUnacked;
    /** How long {@link #close()} waits for the agent to take the last frame sent before it drops the rest. */
    static final java.time.Duration LAST_FRAME_WAIT = java.time.Duration.ofSeconds(5);
    private IOException channelEnd;

    /**
     * @param forget removes it from the channel's table once the host closed it
     */
    AgentConnection(int id, FrameSink sink, Runnable forget) {
        this.id = id;
        this.sink = sink;
        this.forget = forget;
    }

    /** Its connection id (the top bit set; print it with {@link Integer#toUnsignedString(int)}). */
    public int id() {
        return id;
    }

    /**
     * What the sandbox sent. {@code read} blocks until bytes arrive; -1 after the agent's conn_eof; an IOException
     * once the connection was closed by the host, reset or failed in the sandbox (after the bytes that came
     * before), or the channel ended. The conn_ack for a frame goes when the reader has taken all of it. Closing
     * it does nothing (a reader that stops reading holds the sandbox's side back); {@link #close()} drops all.
     */
    public InputStream input() {
        return input;
    }

    /**
     * Toward the sandbox: {@code write} sends conn_data frames of at most 65536 bytes, each after the agent's
     * conn_ack of the one before; an IOException once the connection is dead or the channel ended. Its
     * {@code close} sends conn_eof (a half close: the input stays open).
     */
    public OutputStream output() {
        return output;
    }

    /**
     * Sends conn_close: both directions are dropped, the sandbox's side sees its socket closed. Idempotent. A frame
     * sent just before (an answer, the end of a response) is first given up to {@link #LAST_FRAME_WAIT} to be
     * taken by the agent: conn_close drops what the agent has not yet written to the socket, and a program that
     * reads slower than the host writes would otherwise lose the end of what it was sent.
     */
    @Override
    public void close() {
        boolean tell;
        synchronized (this) {
            if (hostClosed) {
                return;
            }
            long until = System.nanoTime() + LAST_FRAME_WAIT.toNanos();
            for (long left = LAST_FRAME_WAIT.toNanos(); hostDataUnacked && deadCause(false) == null && left > 0;
                    left = until - System.nanoTime()) {
                try {
                    java.util.concurrent.TimeUnit.NANOSECONDS.timedWait(this, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            hostClosed = true;
            tell = !agentClosed && channelEnd == null;
            notifyAll();
        }
        forget.run();
        if (tell) {
            try {
                sink.send(FrameWriter.encodeConnection(FrameType.CONN_CLOSE, id, new byte[0], 0, 0));
            } catch (IOException e) {
                log.debug("conn_close for {}: {}", Integer.toUnsignedString(id), e.toString());
            }
        }
    }

    /** Whether it is dead: closed by either side or its channel ended. */
    public synchronized boolean isClosed() {
        return hostClosed || agentClosed || channelEnd != null;
    }

    // ---- the agent's frames (the reader thread) --------------------------------------------------------------

    synchronized void agentData(long frame, byte[] chunk) throws AgentProtocolException {
        if (hostClosed) {
            return;
        }
        if (agentEof) {
            throw violation(frame, "conn_data", " after its conn_eof");
        }
        if (agentDataUnacked) {
            throw violation(frame, "conn_data", " before the host's conn_ack of the one before");
        }
        agentDataUnacked = true;
        incoming = chunk;
        incomingOffset = 0;
        notifyAll();
    }

    synchronized void agentEof(long frame) throws AgentProtocolException {
        if (hostClosed) {
            return;
        }
        if (agentEof) {
            throw violation(frame, "conn_eof", " twice");
        }
        if (agentDataUnacked) {
            throw violation(frame, "conn_eof", " before the host's conn_ack");
        }
        agentEof = true;
        notifyAll();
    }

    synchronized void agentAck(long frame) throws AgentProtocolException {
        if (hostClosed) {
            return;
        }
        if (!hostDataUnacked) {
            throw violation(frame, "conn_ack", " with no conn_data in flight");
        }
        hostDataUnacked = false;
        notifyAll();
    }

    /** conn_closed: the agent closed the socket; the bytes already here can still be read. */
    synchronized void agentClosed() {
        agentClosed = true;
        notifyAll();
    }

    /** The channel ended: every wait ends with this cause. */
    synchronized void fail(IOException cause) {
        if (channelEnd == null) {
            channelEnd = cause;
            notifyAll();
        }
    }

    private AgentProtocolException violation(long frame, String what, String when) {
        return AgentProtocolException.at(frame, what + " for connection " + Integer.toUnsignedString(id) + when);
    }

    /** Why the connection can be used no more, or null. The caller holds the lock. */
    private IOException deadCause(boolean forReading) {
        if (hostClosed) {
            return new IOException("connection " + Integer.toUnsignedString(id) + " was closed by the host");
        }
        if (channelEnd != null) {
            return new IOException("the agent channel has ended: " + channelEnd.getMessage(), channelEnd);
        }
        if (agentClosed && !(forReading && incoming != null)) {
            return new IOException("connection " + Integer.toUnsignedString(id) + " was closed in the sandbox");
        }
        return null;
    }

    private void await() throws InterruptedIOException {
        try {
            wait();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted on connection " + Integer.toUnsignedString(id));
        }
    }

    private final class Input extends InputStream {
        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] into, int offset, int length) throws IOException {
            Objects.checkFromIndexSize(offset, length, into.length);
            if (length == 0) {
                return 0;
            }
            int count;
            boolean ack = false;
            synchronized (AgentConnection.this) {
                while (true) {
                    if (incoming != null && !hostClosed && channelEnd == null) {
                        break;
                    }
                    if (agentEof && !hostClosed && channelEnd == null) {
                        return -1;
                    }
                    IOException dead = deadCause(true);
                    if (dead != null) {
                        throw dead;
                    }
                    await();
                }
                count = Math.min(length, incoming.length - incomingOffset);
                System.arraycopy(incoming, incomingOffset, into, offset, count);
                incomingOffset += count;
                if (incomingOffset == incoming.length) {
                    incoming = null;
                    // Cleared before the ack goes: the agent's next conn_data may arrive at once.
                    agentDataUnacked = false;
                    ack = !agentClosed;
                }
            }
            if (ack) {
                sink.send(FrameWriter.encodeConnection(FrameType.CONN_ACK, id, new byte[0], 0, 0));
            }
            return count;
        }

        @Override
        public int available() {
            synchronized (AgentConnection.this) {
                return incoming == null ? 0 : incoming.length - incomingOffset;
            }
        }
    }

    private final class Output extends OutputStream {
        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] data, int offset, int length) throws IOException {
            Objects.checkFromIndexSize(offset, length, data.length);
            synchronized (sending) {
                for (int at = offset; at < offset + length; at += AgentProtocol.MAX_PAYLOAD) {
                    int size = Math.min(AgentProtocol.MAX_PAYLOAD, offset + length - at);
                    synchronized (AgentConnection.this) {
                        if (hostEof) {
                            throw new IOException("the output of connection " + Integer.toUnsignedString(id)
                                    + " is closed");
                        }
                        while (hostDataUnacked && deadCause(false) == null) {
                            await();
                        }
                        IOException dead = deadCause(false);
                        if (dead != null) {
                            throw dead;
                        }
                        hostDataUnacked = true;
                    }
                    sink.send(FrameWriter.encodeConnection(FrameType.CONN_DATA, id, data, at, size));
                }
            }
        }

        /** Sends conn_eof (once): the sandbox's side reads end of file after the bytes already sent. */
        @Override
        public void close() throws IOException {
            synchronized (sending) {
                synchronized (AgentConnection.this) {
                    if (hostEof || deadCause(false) != null) {
                        return;
                    }
                    hostEof = true;
                }
                sink.send(FrameWriter.encodeConnection(FrameType.CONN_EOF, id, new byte[0], 0, 0));
            }
        }
    }
}
