package io.mcpsandbox.session;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * Finds the end of one cell in one output stream of a persistent interpreter: the marker (a fixed prefix and the
 * cell's token) and the rest of its line. Everything before the marker is the cell's output and is passed on as
 * it comes; only a possible start of the marker at the end of what came so far is held back. The line after the
 * marker is kept, bounded: longer is {@link State#BROKEN}. Bytes after the line are not the cell's.
 * The stream is hostile: the program can print anything, including a marker (see docs/sessions.md).
 */
final class CellMarkerScanner {
    enum State { SCANNING, ENDED, BROKEN }

    private final byte[] marker;
    private final int maxLine;
    private final Consumer<byte[]> output;
    private byte[] held = new byte[0];
    private ByteArrayOutputStream line;
    private State state = State.SCANNING;
    private String brokenReason;

    /**
     * @param marker  the bytes that end the cell's output (prefix and token)
     * @param maxLine the most bytes the rest of the marker's line may hold (its newline not counted)
     * @param output  gets the cell's output, in order; each array is the consumer's
     */
    CellMarkerScanner(byte[] marker, int maxLine, Consumer<byte[]> output) {
        this.marker = marker.clone();
        this.maxLine = maxLine;
        this.output = output;
    }

    State state() {
        return state;
    }

    /** The rest of the marker's line (without its newline), once {@link State#ENDED}. */
    byte[] line() {
        return line.toByteArray();
    }

    String brokenReason() {
        return brokenReason;
    }

    /** Takes the next chunk of the stream; after the end (or a break) it ignores what comes. */
    State accept(byte[] chunk) {
        if (state != State.SCANNING) {
            return state;
        }
        if (line != null) {
            return readLine(chunk, 0);
        }
        byte[] data = held.length == 0 ? chunk : concat(held, chunk);
        int at = indexOf(data, marker);
        if (at >= 0) {
            emit(data, 0, at);
            held = new byte[0];
            line = new ByteArrayOutputStream();
            return readLine(data, at + marker.length);
        }
        int keep = partialMarkerAtEnd(data);
        emit(data, 0, data.length - keep);
        held = Arrays.copyOfRange(data, data.length - keep, data.length);
        return state;
    }

    private State readLine(byte[] data, int from) {
        int end = from;
        while (end < data.length && data[end] != '\n') {
            end++;
        }
        if (line.size() + (end - from) > maxLine) {
            state = State.BROKEN;
            brokenReason = "a cell-end marker line longer than " + maxLine + " bytes";
            line = new ByteArrayOutputStream();
            return state;
        }
        line.write(data, from, end - from);
        if (end < data.length) {
            state = State.ENDED;
        }
        return state;
    }

    private void emit(byte[] data, int from, int to) {
        if (to > from) {
            output.accept(Arrays.copyOfRange(data, from, to));
        }
    }

    /** The length of the longest end of {@code data} that is a proper start of the marker. */
    private int partialMarkerAtEnd(byte[] data) {
        for (int k = Math.min(marker.length - 1, data.length); k > 0; k--) {
            if (Arrays.equals(data, data.length - k, data.length, marker, 0, k)) {
                return k;
            }
        }
        return 0;
    }

    static int indexOf(byte[] data, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= data.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (data[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] both = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, both, a.length, b.length);
        return both;
    }
}
