package io.mcpsandbox.pool;

import io.mcpsandbox.runtime.agent.ProgramRun;
import java.io.ByteArrayOutputStream;
import java.util.concurrent.CompletableFuture;

/**
 * The output of a program started ahead, before anyone owns it: kept (bounded) until {@link #attach} names the
 * execution's sink, then handed over, and everything after goes straight there. A started-ahead interpreter
 * prints one byte before its go, {@link WarmStarter#READY} on stderr once it is loaded: that byte is taken here
 * (it completes {@link #ready}) and never reaches the execution, also when the owner came first. Anything else it
 * might print (a warning of the interpreter's own) is the execution's, as it would be on a cold start.
 */
final class HeldOutput implements ProgramRun.OutputSink {
    /** What is kept per stream before an owner exists; beyond, the bytes are dropped. */
    static final int MAX_HELD = 64 * 1024;

    private final ByteArrayOutputStream heldOut = new ByteArrayOutputStream();
    private final ByteArrayOutputStream heldErr = new ByteArrayOutputStream();
    private ProgramRun.OutputSink target;
    private final CompletableFuture<Void> ready = new CompletableFuture<>();

    /** Completes when the interpreter has said it is loaded and waits for its go. */
    CompletableFuture<Void> ready() {
        return ready;
    }

    /** From now on output goes to {@code sink}, starting with what was kept. Once. */
    synchronized void attach(ProgramRun.OutputSink sink) {
        if (target != null) {
            throw new IllegalStateException("the output already has its owner");
        }
        target = sink;
        if (heldOut.size() > 0) {
            sink.stdout(heldOut.toByteArray());
        }
        if (heldErr.size() > 0) {
            sink.stderr(heldErr.toByteArray());
        }
    }

    @Override
    public synchronized void stdout(byte[] chunk) {
        if (target != null) {
            target.stdout(chunk);
        } else {
            keep(heldOut, chunk);
        }
    }

    @Override
    public synchronized void stderr(byte[] chunk) {
        // A session's spare may get its owner before it has loaded: the byte is taken whoever owns the output.
        int at = ready.isDone() ? -1 : indexOf(chunk, WarmStarter.READY);
        byte[] rest = chunk;
        if (at >= 0) {
            rest = new byte[chunk.length - 1];
            System.arraycopy(chunk, 0, rest, 0, at);
            System.arraycopy(chunk, at + 1, rest, at, chunk.length - at - 1);
            ready.complete(null);
        }
        if (rest.length == 0) {
            return;
        }
        if (target != null) {
            target.stderr(rest);
        } else {
            keep(heldErr, rest);
        }
    }

    private static int indexOf(byte[] chunk, byte b) {
        for (int i = 0; i < chunk.length; i++) {
            if (chunk[i] == b) {
                return i;
            }
        }
        return -1;
    }

    private static void keep(ByteArrayOutputStream held, byte[] chunk) {
        held.write(chunk, 0, Math.min(chunk.length, Math.max(0, MAX_HELD - held.size())));
    }
}
