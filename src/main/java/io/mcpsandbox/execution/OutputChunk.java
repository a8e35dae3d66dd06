package io.mcpsandbox.execution;

import java.util.Locale;

/**
 * A piece of a running execution's output, as it was kept under the output cap.
 *
 * @param offset where it starts in its stream, in bytes from the stream's first byte
 */
public record OutputChunk(Stream stream, long offset, byte[] data) {

    /** Which of the program's output streams. */
    public enum Stream {
        STDOUT, STDERR;

        /** {@code stdout} or {@code stderr}, as the API names it. */
        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }
}
