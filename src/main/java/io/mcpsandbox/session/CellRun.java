package io.mcpsandbox.session;

import io.mcpsandbox.runtime.agent.ProgramRun;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * One cell run in a persistent interpreter, shaped like a {@link ProgramRun}: its output goes to the caller's
 * sink as it comes, its end is a future, and {@link #kill} is how the caller enforces its limits (the time
 * limit, the output cap, a terminate). The end comes when the driver's marker was seen on both streams (each
 * stream's output is then complete), or when the interpreter or the channel ended first.
 */
public final class CellRun {
    /** The most the rest of a stdout marker line may hold: the driver caps the result at 64 Ki characters. */
    static final int MAX_REPORT_BYTES = 512 * 1024;
    private static final byte[] MAGIC = "\0mcp-cell-end:".getBytes(StandardCharsets.US_ASCII);

    private final Interpreter interpreter;
    private final String token;
    private final String notice;
    private final CellMarkerScanner stdout;
    private final CellMarkerScanner stderr;
    private final CompletableFuture<CellEnd> end = new CompletableFuture<>();

    CellRun(Interpreter interpreter, String token, String notice, ProgramRun.OutputSink sink) {
        this.interpreter = interpreter;
        this.token = token;
        this.notice = notice;
        byte[] marker = marker(token);
        this.stdout = new CellMarkerScanner(marker, MAX_REPORT_BYTES, sink::stdout);
        this.stderr = new CellMarkerScanner(marker, 0, sink::stderr);
    }

    static byte[] marker(String token) {
        byte[] tag = token.getBytes(StandardCharsets.US_ASCII);
        byte[] marker = java.util.Arrays.copyOf(MAGIC, MAGIC.length + tag.length);
        System.arraycopy(tag, 0, marker, MAGIC.length, tag.length);
        return marker;
    }

    /** Completes once, with how the cell ended; never exceptionally. */
    public CompletableFuture<CellEnd> end() {
        return end;
    }

    /**
     * Why the interpreter this cell runs in is a new one, e.g. "the python interpreter was restarted: the previous
     * one was killed (time limit)"; empty when it is the same interpreter as before or the session's first.
     */
    public Optional<String> notice() {
        return Optional.ofNullable(notice);
    }

    /**
     * Kills the interpreter (SIGKILL to its process group, through the agent) if this cell still runs; the next
     * call starts a new one and says so with {@code why} ("time limit", "output limit", "terminated").
     * Call it from the caller's thread, never from the sink (the sink runs on the channel's reader thread).
     */
    public void kill(String why) {
        interpreter.kill(this, why);
    }

    String token() {
        return token;
    }

    /** A chunk of the interpreter's stdout while {@link #wants} it. */
    void stdout(byte[] chunk) {
        accept(stdout, chunk);
    }

    void stderr(byte[] chunk) {
        accept(stderr, chunk);
    }

    /** Whether output on that stream is still this cell's (else it came between cells). */
    boolean wants(boolean isStdout) {
        return !end.isDone() && (isStdout ? stdout : stderr).state() == CellMarkerScanner.State.SCANNING;
    }

    /** Called on the channel's reader thread. The stderr marker's line holds nothing (its scanner's bound is 0). */
    private void accept(CellMarkerScanner scanner, byte[] chunk) {
        CellMarkerScanner.State state = scanner.accept(chunk);
        if (state == CellMarkerScanner.State.BROKEN) {
            interpreter.broken(this, scanner.brokenReason());
        } else if (stdout.state() == CellMarkerScanner.State.ENDED && stderr.state() == CellMarkerScanner.State.ENDED) {
            try {
                CellOutcome outcome = CellOutcome.parse(stdout.line());
                finish(new CellEnd.Completed(outcome.error(), outcome.result()));
            } catch (CellOutcome.MalformedException e) {
                interpreter.broken(this, e.getMessage());
            }
        }
    }

    void finish(CellEnd how) {
        end.complete(how);
    }
}
