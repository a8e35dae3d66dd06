package io.mcpsandbox.runtime.agent;

import java.io.IOException;
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
     * Sends bytes to its stdin; nothing once it has ended (they have nowhere to go). Blocks while the agent does
     * not read: the host's own timeout, which kills the sandbox, is what ends such a wait.
     */
    public void writeStdin(byte[] data) throws IOException {
        if (stdinClosed) {
            throw new IllegalStateException("stdin of process " + id + " is closed");
        }
        if (!hasEnded()) {
            writer.stdin(id, data);
        }
    }

    /** Closes its stdin (once; later calls do nothing). */
    public void closeStdin() throws IOException {
        if (!stdinClosed && !hasEnded()) {
            stdinClosed = true;
            writer.stdinClose(id);
        }
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
        deliver(() -> listener.startFailed(reason));
    }

    /** The channel ended first; nothing if the process had ended already. */
    synchronized void fail(IOException cause) {
        if (state != State.ENDED) {
            state = State.ENDED;
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
