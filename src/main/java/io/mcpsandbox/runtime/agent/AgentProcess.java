package io.mcpsandbox.runtime.agent;

import java.io.IOException;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One process the host asked the agent to start: its order rules (started, then output, then exit; or a start
 * error) and its output counts, which the caller reads to enforce its caps (the host enforces them, the agent
 * is not trusted to). Frames come in on the channel's reader thread; stdin and signals go out from any thread.
 */
public final class AgentProcess {
    private static final Logger log = LoggerFactory.getLogger(AgentProcess.class);

    private enum State { PENDING, RUNNING, ENDED }

    private final int id;
    private final ProcessListener listener;
    private final FrameWriter writer;
    private volatile State state = State.PENDING;
    private volatile long pid;
    private volatile long stdoutBytes;
    private volatile long stderrBytes;
    private volatile boolean stdinClosed;
    /** Held by the one thread writing its stdin, so that two writes' frames never interleave. */
    private final Object stdinWriter = new Object();
    /** A stdin frame was sent and the agent has not said {@code stdin_taken} for it yet (guarded by this). */
    private boolean stdinInFlight;

    AgentProcess(int id, ProcessListener listener, FrameWriter writer) {
        this.id = id;
        this.listener = listener;
        this.writer = writer;
    }

    /** The stream id the host chose. */
    public int id() {
        return id;
    }

    /** Its pid inside the sandbox as the agent reported it; 0 before {@code started}. */
    public long pid() {
        return pid;
    }

    /** Bytes of stdout received so far. */
    public long stdoutBytes() {
        return stdoutBytes;
    }

    /** Bytes of stderr received so far. */
    public long stderrBytes() {
        return stderrBytes;
    }

    /** Whether it exited, failed to start, or its channel ended. */
    public boolean hasEnded() {
        return state == State.ENDED;
    }

    /**
     * Sends bytes to its stdin, to the end; see {@link #writeStdin(byte[], long)}. Blocks while the program
     * does not read: the host's own timeout, which kills it, is what ends such a wait.
     */
    public void writeStdin(byte[] data) throws IOException, InterruptedException {
        writeStdin(data, Long.MAX_VALUE);
    }

    /**
     * Sends bytes to its stdin, one frame at a time, each only after the agent said it took the one before
     * ({@code stdin_taken}): the agent then never holds more than one frame of it, so a program that does not
     * read never stalls the channel that other processes, file operations and the host's kills share.
     *
     * @param timeoutNanos how long to wait for the program to take the earlier frames
     * @return the bytes sent: all of them, or fewer when it ended or did not read them in time
     * @throws IllegalStateException its stdin is closed
     */
    public long writeStdin(byte[] data, long timeoutNanos) throws IOException, InterruptedException {
        synchronized (stdinWriter) {
            if (stdinClosed) {
                throw new IllegalStateException("stdin of process " + id + " is closed");
            }
            long start = System.nanoTime();
            long sent = 0;
            for (int offset = 0; offset < data.length; offset += AgentProtocol.MAX_PAYLOAD) {
                long left = timeoutNanos == Long.MAX_VALUE ? Long.MAX_VALUE
                        : timeoutNanos - (System.nanoTime() - start);
                if (!awaitStdinTaken(left)) {
                    return sent;
                }
                int size = Math.min(AgentProtocol.MAX_PAYLOAD, data.length - offset);
                writer.stdin(id, Arrays.copyOfRange(data, offset, offset + size));
                sent += size;
            }
            return sent;
        }
    }

    /** Waits until no stdin frame is in flight, then marks the next one so; false when it ended or time ran out. */
    private synchronized boolean awaitStdinTaken(long timeoutNanos) throws InterruptedException {
        long deadline = System.nanoTime() + Math.min(timeoutNanos, Long.MAX_VALUE / 4);
        while (stdinInFlight && state != State.ENDED) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            TimeUnit.NANOSECONDS.timedWait(this, left);
        }
        if (state == State.ENDED) {
            return false;
        }
        stdinInFlight = true;
        return true;
    }

    /** Closes its stdin (once; later calls do nothing), after a write in progress has sent its last frame. */
    public void closeStdin() throws IOException {
        synchronized (stdinWriter) {
            if (!stdinClosed && !hasEnded()) {
                stdinClosed = true;
                writer.stdinClose(id);
            }
        }
    }

    /** Whether its stdin was closed (by the host). */
    public boolean stdinClosed() {
        return stdinClosed;
    }

    /** Sends signal {@code signo} (1 .. 64) to its process group; nothing once it has ended. */
    public void signal(int signo) throws IOException {
        if (!hasEnded()) {
            writer.signal(id, signo);
        }
    }

    synchronized void started(long frame, long agentPid) throws AgentProtocolException {
        if (state == State.ENDED) {
            return;
        }
        if (state == State.RUNNING) {
            throw violation(frame, "a second started", "");
        }
        state = State.RUNNING;
        pid = agentPid;
        deliver(() -> listener.started(agentPid));
    }

    synchronized void stdinTaken(long frame) throws AgentProtocolException {
        if (state == State.ENDED) {
            return;
        }
        if (state == State.PENDING) {
            throw violation(frame, "stdin_taken", " before its started");
        }
        if (!stdinInFlight) {
            throw violation(frame, "stdin_taken", " with no stdin frame in flight");
        }
        stdinInFlight = false;
        notifyAll();
    }

    synchronized void output(long frame, FrameType type, byte[] chunk) throws AgentProtocolException {
        if (state == State.ENDED) {
            return;
        }
        if (state == State.PENDING) {
            throw violation(frame, type.label(), " before its started");
        }
        if (type == FrameType.STDOUT) {
            stdoutBytes += chunk.length;
            deliver(() -> listener.stdout(chunk));
        } else {
            stderrBytes += chunk.length;
            deliver(() -> listener.stderr(chunk));
        }
    }

    synchronized void exited(long frame, AgentExit exit) throws AgentProtocolException {
        if (state == State.ENDED) {
            return;
        }
        if (state == State.PENDING) {
            throw violation(frame, "exit", " before its started");
        }
        state = State.ENDED;
        notifyAll();
        deliver(() -> listener.exited(exit));
    }

    synchronized void startFailed(long frame, String reason) throws AgentProtocolException {
        if (state == State.ENDED) {
            return;
        }
        if (state == State.RUNNING) {
            throw violation(frame, "error", " after its started");
        }
        state = State.ENDED;
        notifyAll();
        deliver(() -> listener.startFailed(reason));
    }

    /** The channel ended first; nothing if the process had ended already. */
    synchronized void fail(IOException cause) {
        if (state != State.ENDED) {
            state = State.ENDED;
            notifyAll();
            deliver(() -> listener.failed(cause));
        }
    }

    private AgentProtocolException violation(long frame, String what, String when) {
        return AgentProtocolException.at(frame, what + " for stream " + id + when);
    }

    private void deliver(Runnable event) {
        try {
            event.run();
        } catch (RuntimeException e) {
            log.warn("the listener of agent process {} failed", id, e);
        }
    }
}
