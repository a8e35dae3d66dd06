package io.mcpsandbox.execution;

/**
 * Captures stdout and stderr under one shared byte cap into the execution's {@link LiveOutput}. The first byte
 * over the cap triggers {@code onLimit} (which kills the program); what was captured before it is kept.
 */
final class OutputCapture {
    private final long cap;
    private final Runnable onLimit;
    private final LiveOutput live;
    private final Stream stdout = new Stream(OutputChunk.Stream.STDOUT);
    private final Stream stderr = new Stream(OutputChunk.Stream.STDERR);
    private long total;
    private boolean limitHit;

    OutputCapture(long cap, Runnable onLimit, LiveOutput live) {
        this.cap = cap;
        this.onLimit = onLimit;
        this.live = live;
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
        private final OutputChunk.Stream which;
        private boolean truncated;

        private Stream(OutputChunk.Stream which) {
            this.which = which;
        }

        /** Takes one chunk as it came; past the cap it is counted as lost, and the first such byte fires the cap. */
        void accept(byte[] chunk) {
            boolean fire = false;
            synchronized (OutputCapture.this) {
                long room = Math.max(0, cap - total);
                int keep = (int) Math.min(room, chunk.length);
                live.append(which, chunk, keep);
                total += keep;
                if (keep < chunk.length) {
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
            return live.text(which);
        }

        boolean truncated() {
            synchronized (OutputCapture.this) {
                return truncated;
            }
        }
    }
}
