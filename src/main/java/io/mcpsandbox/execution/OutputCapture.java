package io.mcpsandbox.execution;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Captures stdout and stderr under one shared byte cap. The first byte over the cap triggers
 * {@code onLimit} (which kills the sandbox); what was captured before it is kept.
 */
final class OutputCapture {
    private final long cap;
    private final Runnable onLimit;
    private final Stream stdout = new Stream();
    private final Stream stderr = new Stream();
    private long total;
    private boolean limitHit;

    OutputCapture(long cap, Runnable onLimit) {
        this.cap = cap;
        this.onLimit = onLimit;
    }

    Stream stdout() {
        return stdout;
    }

    Stream stderr() {
        return stderr;
    }

    synchronized boolean limitHit() {
        return limitHit;
    }

    synchronized long totalBytes() {
        return total;
    }

    /** One captured stream. */
    final class Stream {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private boolean truncated;

        /** Takes one chunk as it came; past the cap it is counted as lost, and the first such byte fires the cap. */
        void accept(byte[] chunk) {
            accept(chunk, chunk.length);
        }

        private void accept(byte[] buffer, int n) {
            boolean fire = false;
            synchronized (OutputCapture.this) {
                long room = Math.max(0, cap - total);
                int keep = (int) Math.min(room, n);
                bytes.write(buffer, 0, keep);
                total += keep;
                if (keep < n) {
                    truncated = true;
                    fire = !limitHit;
                    limitHit = true;
                }
            }
            if (fire) {
                onLimit.run();
            }
        }

        String text() {
            synchronized (OutputCapture.this) {
                // Invalid UTF-8 (and a character cut at the cap) becomes U+FFFD.
                return bytes.toString(StandardCharsets.UTF_8);
            }
        }

        boolean truncated() {
            synchronized (OutputCapture.this) {
                return truncated;
            }
        }
    }
}
