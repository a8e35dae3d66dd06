package io.mcpsandbox.api;

import io.mcpsandbox.execution.ActiveExecution;
import io.mcpsandbox.execution.OutputChunk;
import io.mcpsandbox.model.ExecutionResult;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * Hands a running execution's output, as it comes, to a consumer that may block (an HTTP response, MCP
 * notifications, a terminal), from a thread of its own and in order: the channel's reader never waits for a
 * slow client. What waits is bounded by the execution's output cap (only kept bytes are followed). Chunks
 * become text here: a UTF-8 character cut between two chunks is held until it is whole; invalid bytes become
 * U+FFFD, as in the result.
 */
public final class OutputRelay {
    /** Consecutive chunks of one stream already waiting are sent as one piece up to this many bytes. */
    static final int MAX_PIECE = 64 * 1024;

    /** Where the text goes. */
    public interface Sink {
        /**
         * @param offset where {@code text} starts in its stream, in bytes
         */
        void output(OutputChunk.Stream stream, long offset, String text) throws IOException;
    }

    private static final Object END = new Object();

    private OutputRelay() {
    }

    /**
     * Relays {@code execution}'s output to {@code sink} from its first byte until the execution ends; the stage
     * then completes with its result (after the last piece). It completes exceptionally when the sink fails
     * (the client left): the execution runs on.
     *
     * @return empty when there is nothing to follow: it has ended, or its output is withheld (its result has it)
     */
    public static Optional<CompletableFuture<ExecutionResult>> start(ActiveExecution execution, Sink sink) {
        LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>();
        Runnable unfollow = execution.output().follow(queue::add);
        if (unfollow == null) {
            return Optional.empty();
        }
        execution.ended().whenComplete((r, e) -> queue.add(END));
        CompletableFuture<ExecutionResult> done = new CompletableFuture<>();
        Thread.ofVirtual().name("output-relay-" + execution.executionId()).start(() -> {
            Map<OutputChunk.Stream, Utf8Text> text = new EnumMap<>(OutputChunk.Stream.class);
            try {
                while (true) {
                    Object next = queue.take();
                    if (next == END) {
                        for (Map.Entry<OutputChunk.Stream, Utf8Text> e : text.entrySet()) {
                            e.getValue().flush(e.getKey(), sink);
                        }
                        done.complete(execution.ended().join());
                        return;
                    }
                    OutputChunk chunk = (OutputChunk) next;
                    byte[] piece = joinWaiting(chunk, queue);
                    text.computeIfAbsent(chunk.stream(), s -> new Utf8Text()).add(chunk, piece, sink);
                }
            } catch (IOException | RuntimeException e) {
                unfollow.run();
                done.completeExceptionally(e);
            } catch (InterruptedException e) {
                unfollow.run();
                Thread.currentThread().interrupt();
                done.completeExceptionally(e);
            }
        });
        return Optional.of(done);
    }

    /** The chunk's bytes, with the chunks of the same stream right behind it in the queue, up to a piece. */
    private static byte[] joinWaiting(OutputChunk first, LinkedBlockingQueue<Object> queue) {
        Object next = queue.peek();
        if (!(next instanceof OutputChunk c) || c.stream() != first.stream()) {
            return first.data();
        }
        java.io.ByteArrayOutputStream joined = new java.io.ByteArrayOutputStream();
        joined.writeBytes(first.data());
        while (queue.peek() instanceof OutputChunk more && more.stream() == first.stream()
                && joined.size() + more.data().length <= MAX_PIECE) {
            queue.poll();
            joined.writeBytes(more.data());
        }
        return joined.toByteArray();
    }

    /** One stream's bytes turned into text, holding back an unfinished UTF-8 sequence at the end. */
    private static final class Utf8Text {
        private byte[] held = new byte[0];
        private long heldOffset = -1;

        void add(OutputChunk chunk, byte[] piece, Sink sink) throws IOException {
            long offset = heldOffset >= 0 ? heldOffset : chunk.offset();
            byte[] bytes = held.length == 0 ? piece : concat(held, piece);
            int whole = wholeLength(bytes);
            held = java.util.Arrays.copyOfRange(bytes, whole, bytes.length);
            heldOffset = held.length == 0 ? -1 : offset + whole;
            if (whole > 0) {
                sink.output(chunk.stream(), offset, decode(bytes, whole));
            }
        }

        void flush(OutputChunk.Stream stream, Sink sink) throws IOException {
            if (held.length > 0) {
                sink.output(stream, heldOffset, decode(held, held.length));
                held = new byte[0];
            }
        }

        private static byte[] concat(byte[] a, byte[] b) {
            byte[] c = java.util.Arrays.copyOf(a, a.length + b.length);
            System.arraycopy(b, 0, c, a.length, b.length);
            return c;
        }

        private static String decode(byte[] bytes, int length) {
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPLACE)
                        .onUnmappableCharacter(CodingErrorAction.REPLACE)
                        .decode(ByteBuffer.wrap(bytes, 0, length)).toString();
            } catch (java.nio.charset.CharacterCodingException e) {
                throw new IllegalStateException("a replacing decoder does not throw", e);
            }
        }
    }

    /**
     * How many leading bytes end on a character boundary: all of them, unless the last (up to 3) bytes start a
     * UTF-8 sequence that needs more bytes than are there.
     */
    static int wholeLength(byte[] bytes) {
        int n = bytes.length;
        for (int back = 1; back <= Math.min(3, n); back++) {
            int b = bytes[n - back] & 0xff;
            if ((b & 0xc0) == 0x80) {
                continue; // a continuation byte: look further back for its lead
            }
            int needed = b < 0xc2 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : b <= 0xf4 ? 4 : 1;
            return needed > back ? n - back : n;
        }
        return n;
    }
}
