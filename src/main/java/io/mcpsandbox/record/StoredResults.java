package io.mcpsandbox.record;

import io.mcpsandbox.model.ExecutionResult;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * How a record keeps a result: the result object as JSON without its output, and the output (stdout and
 * stderr as UTF-8) gzip-compressed beside it, each stream capped. JSON would turn every control byte into a
 * six-byte escape; the compressed raw bytes do not. See docs/records.md.
 *
 * <p>The compressed form is {@code gzip( version:byte(1), stdoutLength:int, stderrLength:int, stdout, stderr )}.
 */
final class StoredResults {
    private static final byte FORMAT = 1;
    /** A decompressed stream larger than this is a broken record, not output this service wrote. */
    private static final int MAX_STREAM = Integer.MAX_VALUE - 64;

    /** Whether a record still keeps the output it was written with. */
    enum State {
        /** The whole output as the result had it. */
        FULL,
        /** The output was longer than the per-stream cap: the first bytes of it, and a marker. */
        TRUNCATED,
        /** The output was dropped (a marker instead) to keep the store under its output caps. */
        DROPPED;

        String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }

        static State parse(String text) {
            return text == null ? null : valueOf(text.toUpperCase(Locale.ROOT));
        }
    }

    /**
     * A result as stored.
     *
     * @param json   the result object as JSON, stdout and stderr empty (they are in {@code output})
     * @param output the compressed output; null for a record without a result
     * @param state  null for a record without a result
     */
    record Encoded(String json, byte[] output, State state) {
        /** What this result takes in the store: its JSON and its compressed output. */
        long storedBytes() {
            return (json == null ? 0 : json.getBytes(StandardCharsets.UTF_8).length)
                    + (output == null ? 0 : output.length);
        }
    }

    private StoredResults() {
    }

    static String truncatedMarker(String stream, long kept, long total) {
        return "\n[mcp-sandbox: the record keeps the first " + kept + " of " + total + " bytes of " + stream + "]";
    }

    static String droppedMarker(String stream) {
        return "[mcp-sandbox: " + stream + " was dropped from the record to keep stored output under the store's caps]";
    }

    /**
     * The stored form of a result; each stream keeps at most {@code maxStreamBytes} bytes (UTF-8, cut at a
     * character boundary) followed by a marker, and then says it is truncated.
     */
    static Encoded encode(ExecutionResult r, long maxStreamBytes) {
        if (r == null) {
            return new Encoded(null, null, null);
        }
        byte[] out = r.stdout().getBytes(StandardCharsets.UTF_8);
        byte[] err = r.stderr().getBytes(StandardCharsets.UTF_8);
        boolean cutOut = out.length > maxStreamBytes;
        boolean cutErr = err.length > maxStreamBytes;
        if (cutOut) {
            out = capped(r.stdout(), out.length, maxStreamBytes, "stdout");
        }
        if (cutErr) {
            err = capped(r.stderr(), err.length, maxStreamBytes, "stderr");
        }
        ExecutionResult bare = r.withOutput("", "", r.stdoutTruncated() || cutOut, r.stderrTruncated() || cutErr);
        return new Encoded(RecordJson.write(bare), compress(out, err), cutOut || cutErr ? State.TRUNCATED : State.FULL);
    }

    /**
     * The result object back: the JSON with the stored output put in. A record written before outputs were
     * stored apart has its output in the JSON and no {@code output}.
     */
    static ExecutionResult decode(String json, byte[] output) {
        ExecutionResult bare = RecordJson.result(json);
        if (bare == null || output == null) {
            return bare;
        }
        byte[][] streams = decompress(output);
        return bare.withOutput(new String(streams[0], StandardCharsets.UTF_8),
                new String(streams[1], StandardCharsets.UTF_8));
    }

    /** The same result with every non-empty stream replaced by a short marker (and marked truncated). */
    static Encoded drop(String json, byte[] output) {
        ExecutionResult r = decode(json, output);
        if (r == null) {
            return new Encoded(null, null, null);
        }
        boolean hasOut = !r.stdout().isEmpty();
        boolean hasErr = !r.stderr().isEmpty();
        ExecutionResult bare = r.withOutput("", "", r.stdoutTruncated() || hasOut, r.stderrTruncated() || hasErr);
        byte[] out = hasOut ? droppedMarker("stdout").getBytes(StandardCharsets.UTF_8) : new byte[0];
        byte[] err = hasErr ? droppedMarker("stderr").getBytes(StandardCharsets.UTF_8) : new byte[0];
        return new Encoded(RecordJson.write(bare), compress(out, err), State.DROPPED);
    }

    private static byte[] capped(String text, long totalBytes, long maxBytes, String stream) {
        String kept = utf8Prefix(text, maxBytes);
        byte[] head = kept.getBytes(StandardCharsets.UTF_8);
        byte[] marker = truncatedMarker(stream, head.length, totalBytes).getBytes(StandardCharsets.UTF_8);
        byte[] all = new byte[head.length + marker.length];
        System.arraycopy(head, 0, all, 0, head.length);
        System.arraycopy(marker, 0, all, head.length, marker.length);
        return all;
    }

    /** The longest prefix of {@code s} whose UTF-8 form has at most {@code maxBytes} bytes; never splits a pair. */
    static String utf8Prefix(String s, long maxBytes) {
        long bytes = 0;
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            int chars = 1;
            int size;
            if (c < 0x80) {
                size = 1;
            } else if (c < 0x800) {
                size = 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < s.length()
                    && Character.isLowSurrogate(s.charAt(i + 1))) {
                size = 4;
                chars = 2;
            } else {
                size = 3;
            }
            if (bytes + size > maxBytes) {
                break;
            }
            bytes += size;
            i += chars;
        }
        return s.substring(0, i);
    }

    static byte[] compress(byte[] stdout, byte[] stderr) {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream(256 + (stdout.length + stderr.length) / 4);
        try (DataOutputStream out = new DataOutputStream(new GZIPOutputStream(buffer, 8192))) {
            out.writeByte(FORMAT);
            out.writeInt(stdout.length);
            out.writeInt(stderr.length);
            out.write(stdout);
            out.write(stderr);
        } catch (IOException e) {
            throw new ExecutionStoreException("cannot compress an output: " + e, e);
        }
        return buffer.toByteArray();
    }

    static byte[][] decompress(byte[] stored) {
        try (DataInputStream in = new DataInputStream(new GZIPInputStream(new ByteArrayInputStream(stored), 8192))) {
            int format = in.readUnsignedByte();
            if (format != FORMAT) {
                throw new ExecutionStoreException("a stored output has format " + format + ", not " + FORMAT
                        + ": written by a newer service?");
            }
            int outLength = in.readInt();
            int errLength = in.readInt();
            if (outLength < 0 || errLength < 0 || outLength > MAX_STREAM || errLength > MAX_STREAM) {
                throw new ExecutionStoreException("a stored output is malformed (stream lengths " + outLength + ", "
                        + errLength + ")");
            }
            byte[] out = in.readNBytes(outLength);
            byte[] err = in.readNBytes(errLength);
            if (out.length != outLength || err.length != errLength) {
                throw new ExecutionStoreException("a stored output is cut short");
            }
            return new byte[][] {out, err};
        } catch (IOException e) {
            throw new ExecutionStoreException("a stored output cannot be read: " + e, e);
        }
    }
}
