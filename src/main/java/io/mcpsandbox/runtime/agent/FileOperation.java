package io.mcpsandbox.runtime.agent;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One file operation the host asked of the agent, and the rules over what the agent answers: file_data only
 * for a read and never beyond the bytes asked for, file_entry only for a listing, never more than asked for and
 * never a name twice, one file_done (ok for a write only after the host's file_end; truncated only when exactly
 * the limit arrived). Frames come in on the channel's reader thread; the caller waits in {@link #await}.
 */
final class FileOperation {
    enum Kind { WRITE, READ, LIST, DELETE }

    /** How it ended: truncated (a read or listing with more than asked for), or the agent's reason. */
    record Outcome(boolean truncated, String error) {
    }

    private final int id;
    private final Kind kind;
    private final long limit;
    private final OutputStream sink;
    private final List<FileEntry> entries = new ArrayList<>();
    private final Set<ByteBuffer> names = new HashSet<>();
    private final CompletableFuture<Outcome> outcome = new CompletableFuture<>();
    private long received;
    private volatile boolean committed;
    private volatile boolean abandoned;
    private IOException sinkFailure;

    /**
     * @param limit maxBytes of a read, maxEntries of a listing (else unused)
     * @param sink where a read's bytes go (else null)
     */
    FileOperation(int id, Kind kind, long limit, OutputStream sink) {
        this.id = id;
        this.kind = kind;
        this.limit = limit;
        this.sink = sink;
    }

    int id() {
        return id;
    }

    Kind kind() {
        return kind;
    }

    /** The host is about to send file_end: from now on the agent may answer ok. */
    void commit() {
        committed = true;
    }

    /** Whether its file_done has arrived or the channel has ended. */
    boolean isDone() {
        return outcome.isDone();
    }

    /** The caller stopped waiting: later data is still checked but goes nowhere. */
    void abandon() {
        abandoned = true;
    }

    synchronized void data(long frame, byte[] chunk) throws AgentProtocolException {
        if (kind != Kind.READ) {
            throw wrongKind(frame, "file_data");
        }
        if (received + chunk.length > limit) {
            throw AgentProtocolException.at(frame, "file_data for stream " + id + " beyond the " + limit
                    + " bytes the host asked for");
        }
        received += chunk.length;
        if (abandoned || sinkFailure != null) {
            return;
        }
        try {
            sink.write(chunk);
        } catch (IOException e) {
            sinkFailure = e;
        } catch (RuntimeException e) {
            sinkFailure = new IOException("the sink for stream " + id + " failed", e);
        }
    }

    synchronized void entry(long frame, AgentFrame f) throws AgentProtocolException {
        if (kind != Kind.LIST) {
            throw wrongKind(frame, "file_entry");
        }
        if (entries.size() == limit) {
            throw AgentProtocolException.at(frame, "file_entry for stream " + id + " beyond the " + limit
                    + " entries the host asked for");
        }
        byte[] p = f.payload();
        if (!names.add(ByteBuffer.wrap(Arrays.copyOfRange(p, AgentProtocol.ENTRY_HEADER, p.length)))) {
            throw AgentProtocolException.at(frame, "file_entry for stream " + id + " repeats a name");
        }
        entries.add(FileEntry.of(f));
    }

    synchronized void done(long frame, int status, String reason) throws AgentProtocolException {
        if (status == 0 && kind == Kind.WRITE && !committed) {
            throw AgentProtocolException.at(frame, "file_done ok for stream " + id + " before its file_end");
        }
        if (status == 2) {
            long got = kind == Kind.READ ? received : entries.size();
            if (kind != Kind.READ && kind != Kind.LIST) {
                throw AgentProtocolException.at(frame, "file_done truncated for stream " + id + ", a "
                        + kind.name().toLowerCase(Locale.ROOT));
            }
            if (got != limit) {
                throw AgentProtocolException.at(frame, "file_done truncated for stream " + id + " after " + got
                        + " of " + limit);
            }
        }
        outcome.complete(new Outcome(status == 2, status == 1 ? reason : null));
    }

    /** The channel ended first. */
    void fail(IOException cause) {
        outcome.completeExceptionally(cause);
    }

    /**
     * Waits until its file_done, at most until {@code deadline} (System.nanoTime()); then a timeout abandons it.
     * A channel that ended first throws its cause.
     */
    Outcome await(long deadline, String what) throws IOException, TimeoutException {
        try {
            return outcome.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            abandon();
            throw new TimeoutException(what + " did not finish in time");
        } catch (InterruptedException e) {
            abandon();
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while " + what);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException cause) {
                throw cause;
            }
            throw new IOException(what + " failed", e.getCause());
        }
    }

    /** The listing so far (all of it once done). */
    synchronized List<FileEntry> entries() {
        return List.copyOf(entries);
    }

    /** Why the read's sink refused bytes, or null. */
    synchronized IOException sinkFailure() {
        return sinkFailure;
    }

    private AgentProtocolException wrongKind(long frame, String what) {
        return AgentProtocolException.at(frame, what + " for stream " + id + ", a "
                + kind.name().toLowerCase(Locale.ROOT));
    }
}
