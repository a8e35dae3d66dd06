package io.mcpsandbox.execution;

import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.runtime.agent.AgentProcess;
import io.mcpsandbox.runtime.agent.ProgramRun;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * An execution between its start and its result: what can be listed, followed (its live output), written to
 * (its stdin, when the request kept it open) and terminated.
 */
public final class ActiveExecution {
    private final String executionId;
    private final String userId;
    private final String sessionId;
    private volatile String runtime;
    private volatile SecurityLevel securityLevel;
    private volatile String image;
    private final Instant startedAt;
    /** Kills what runs for this execution: its sandbox, or in a session its program's process group. */
    private volatile Runnable killer;
    private volatile boolean terminated;
    private volatile boolean timedOut;
    private final LiveOutput output;
    private final boolean keepStdinOpen;
    private final CompletableFuture<ExecutionResult> ended = new CompletableFuture<>();
    /** The program, once started: where kept-open stdin goes. */
    private final CompletableFuture<ProgramRun> program = new CompletableFuture<>();

    /** What a write to a running execution's stdin did. */
    public enum StdinOutcome {
        /** All bytes went to the program (and its stdin was closed when asked). */
        WRITTEN,
        /** The program did not take all of them in time; {@code bytesWritten} says how many it did. */
        TIMED_OUT,
        /** Its stdin is not open: the request did not keep it open, or it was closed already. */
        NOT_OPEN,
        /** The program has ended. */
        ENDED
    }

    /** Most bytes one write to a running program's stdin takes (REST, MCP). */
    public static final int MAX_STDIN_WRITE = 1 << 20;
    /** How long one write waits for the program to start and take its input. */
    public static final Duration STDIN_WAIT = Duration.ofSeconds(30);

    /** @param bytesWritten how many of the bytes reached the program */
    public record StdinWrite(StdinOutcome outcome, long bytesWritten) {
        /** What went wrong with a write of {@code requested} bytes, as REST and MCP say it; null when written. */
        public String problem(int requested) {
            return switch (outcome) {
                case WRITTEN -> null;
                case TIMED_OUT -> "the program did not take its input within " + STDIN_WAIT.toSeconds() + " s: "
                        + bytesWritten + " of " + requested + " bytes reached it; send the rest again";
                case NOT_OPEN -> "its stdin is not open: start it with keepStdinOpen, and write before closing";
                case ENDED -> "the program has ended; " + bytesWritten + " of " + requested + " bytes reached it";
            };
        }
    }

    ActiveExecution(String executionId, String userId, String sessionId, String runtime, SecurityLevel securityLevel,
                    String image, Instant startedAt, boolean outputWithheld, boolean keepStdinOpen) {
        this.output = new LiveOutput(outputWithheld);
        this.keepStdinOpen = keepStdinOpen;
        this.executionId = executionId;
        this.userId = userId;
        this.sessionId = sessionId;
        this.runtime = runtime;
        this.securityLevel = securityLevel;
        this.image = image;
        this.startedAt = startedAt;
    }

    public String executionId() { return executionId; }
    public String userId() { return userId; }
    public String sessionId() { return sessionId; }
    public String runtime() { return runtime; }
    public SecurityLevel securityLevel() { return securityLevel; }
    public String image() { return image; }
    public Instant startedAt() { return startedAt; }

    /** Its output so far and as it comes. */
    public LiveOutput output() {
        return output;
    }

    /** Completes with its result once it has one (after its last output). */
    public CompletableFuture<ExecutionResult> ended() {
        return ended;
    }

    /** Whether its stdin stays open for {@link #writeStdin} after the request's own stdin. */
    public boolean keepsStdinOpen() {
        return keepStdinOpen;
    }

    /**
     * Writes to its stdin (and closes it when {@code close}), waiting at most {@code timeout} for the program to
     * start and to take the bytes.
     */
    public StdinWrite writeStdin(byte[] data, boolean close, Duration timeout)
            throws IOException, InterruptedException {
        if (!keepStdinOpen) {
            return new StdinWrite(StdinOutcome.NOT_OPEN, 0);
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        ProgramRun run;
        try {
            run = program.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
            // The request's own stdin goes first.
            run.initialStdinSent().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            return new StdinWrite(ended.isDone() ? StdinOutcome.ENDED : StdinOutcome.TIMED_OUT, 0);
        } catch (ExecutionException e) {
            return new StdinWrite(StdinOutcome.ENDED, 0);
        }
        AgentProcess process = run.process();
        if (process.hasEnded()) {
            return new StdinWrite(StdinOutcome.ENDED, 0);
        }
        long written;
        try {
            written = process.writeStdin(data, Math.max(0, deadline - System.nanoTime()));
            if (written == data.length && close) {
                process.closeStdin();
            }
        } catch (IllegalStateException closed) {
            return new StdinWrite(StdinOutcome.NOT_OPEN, 0);
        }
        if (written < data.length) {
            return new StdinWrite(process.hasEnded() ? StdinOutcome.ENDED : StdinOutcome.TIMED_OUT, written);
        }
        return new StdinWrite(StdinOutcome.WRITTEN, written);
    }

    /** The program has started; its stdin (when kept open) is now writable. */
    void programStarted(ProgramRun run) {
        program.complete(run);
    }

    /** The result is known: followers are let go, writers to its stdin too. */
    void end(ExecutionResult result) {
        output.end();
        program.completeExceptionally(new IllegalStateException("ended"));
        ended.complete(result);
    }

    /** What policy chose, once it has. */
    void resolved(String runtimeName, SecurityLevel level, String imageName) {
        runtime = runtimeName;
        securityLevel = level;
        image = imageName;
    }

    boolean terminated() {
        return terminated;
    }

    boolean timedOut() {
        return timedOut;
    }

    void started(Runnable kill) {
        killer = kill;
        if (terminated) {
            kill.run(); // terminate arrived while the sandbox was starting
        }
    }

    void timeOut() {
        timedOut = true;
        kill();
    }

    void terminate() {
        terminated = true;
        kill();
    }

    /** Whether the program must die (terminated or timed out): the kill is repeated until it has. */
    boolean killRequested() {
        return terminated || timedOut;
    }

    void kill() {
        Runnable k = killer;
        if (k != null) {
            k.run();
        }
    }
}
