package io.mcpsandbox.execution;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The output of one execution as it comes: the bytes kept under its output cap (the result's output is made
 * from them) and the followers who see them live (a stream, MCP notifications, the CLI). A follower is called
 * with this object's lock held, in the order the bytes came, so it must not block: it queues.
 *
 * <p>When the output must be scanned before anyone sees it (a DLP mode that redacts or withholds), it is
 * {@linkplain #withheld() withheld}: followers get nothing, the result carries the scanned output.
 */
public final class LiveOutput {
    private final boolean withheld;
    private final ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    private final ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    private final List<Consumer<OutputChunk>> followers = new ArrayList<>();
    private boolean ended;

    LiveOutput(boolean withheld) {
        this.withheld = withheld;
    }

    /** Whether live output is kept from followers until the whole output has been scanned. */
    public boolean withheld() {
        return withheld;
    }

    /**
     * Follows the output: what came so far at once (one chunk per stream), then each chunk as it comes, until
     * the execution ends.
     *
     * @return stops following; null when there is nothing to follow (it is withheld, or has ended)
     */
    public synchronized Runnable follow(Consumer<OutputChunk> follower) {
        if (withheld || ended) {
            return null;
        }
        if (stdout.size() > 0) {
            follower.accept(new OutputChunk(OutputChunk.Stream.STDOUT, 0, stdout.toByteArray()));
        }
        if (stderr.size() > 0) {
            follower.accept(new OutputChunk(OutputChunk.Stream.STDERR, 0, stderr.toByteArray()));
        }
        followers.add(follower);
        return () -> {
            synchronized (LiveOutput.this) {
                followers.remove(follower);
            }
        };
    }

    /** Keeps {@code n} bytes of a stream (already within the cap) and hands them to the followers. */
    synchronized void append(OutputChunk.Stream stream, byte[] buffer, int n) {
        if (n == 0) {
            return;
        }
        ByteArrayOutputStream kept = stream == OutputChunk.Stream.STDOUT ? stdout : stderr;
        long offset = kept.size();
        kept.write(buffer, 0, n);
        if (!followers.isEmpty()) {
            OutputChunk chunk = new OutputChunk(stream, offset, java.util.Arrays.copyOf(buffer, n));
            for (Consumer<OutputChunk> f : followers) {
                f.accept(chunk);
            }
        }
    }

    /** No more output comes: followers are let go. */
    synchronized void end() {
        ended = true;
        followers.clear();
    }

    /** A stream's bytes so far as text (invalid UTF-8, and a character cut at the cap, become U+FFFD). */
    public synchronized String text(OutputChunk.Stream stream) {
        return (stream == OutputChunk.Stream.STDOUT ? stdout : stderr).toString(StandardCharsets.UTF_8);
    }
}
