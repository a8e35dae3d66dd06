package io.mcpsandbox.runtime.oci;

import io.mcpsandbox.host.HostCommand;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * The sandbox's stdio as named pipes that this process owns. Java's own child pipes cannot be used: the
 * JDK drains and closes them when the child exits, and {@code runsc create} exits while the sandbox it
 * created goes on writing. Opening a FIFO blocks until the other end opens, so our ends are opened on
 * their own threads before the runtime is started. Platform threads: a native open() pins a virtual
 * thread's carrier without compensation, and a few dozen concurrent sandboxes would starve the carriers.
 */
final class FifoPipes implements AutoCloseable {
    private final File stdoutFifo;
    private final File stderrFifo;
    private final File stdinFifo;
    private final CompletableFuture<InputStream> stdout;
    private final CompletableFuture<InputStream> stderr;
    private final CompletableFuture<Void> stdinFeed;

    private FifoPipes(Path dir, byte[] stdinBytes) {
        this.stdoutFifo = dir.resolve("stdout.fifo").toFile();
        this.stderrFifo = dir.resolve("stderr.fifo").toFile();
        this.stdinFifo = stdinBytes == null ? null : dir.resolve("stdin.fifo").toFile();
        this.stdout = CompletableFuture.supplyAsync(() -> openRead(stdoutFifo), FifoPipes::platformThread);
        this.stderr = CompletableFuture.supplyAsync(() -> openRead(stderrFifo), FifoPipes::platformThread);
        this.stdinFeed = stdinFifo == null ? CompletableFuture.completedFuture(null)
                : CompletableFuture.runAsync(() -> feed(stdinFifo, stdinBytes), FifoPipes::platformThread);
    }

    /** Runs blocking FIFO I/O on a short-lived daemon platform thread (see the class comment). */
    static void platformThread(Runnable task) {
        Thread.ofPlatform().daemon().name("sandbox-fifo").start(task);
    }

    static FifoPipes create(Path dir, byte[] stdinBytes) throws IOException {
        List<String> argv = new java.util.ArrayList<>(List.of("mkfifo", "-m", "0600",
                dir.resolve("stdout.fifo").toString(), dir.resolve("stderr.fifo").toString()));
        if (stdinBytes != null) {
            argv.add(dir.resolve("stdin.fifo").toString());
        }
        HostCommand.check(argv, Duration.ofSeconds(10));
        return new FifoPipes(dir, stdinBytes);
    }

    /** Points the runtime process's stdio at the FIFOs. */
    ProcessBuilder redirect(ProcessBuilder pb) {
        pb.redirectOutput(stdoutFifo).redirectError(stderrFifo);
        pb.redirectInput(stdinFifo == null ? ProcessBuilder.Redirect.from(new File("/dev/null"))
                : ProcessBuilder.Redirect.from(stdinFifo));
        return pb;
    }

    InputStream stdout() {
        return join(stdout);
    }

    InputStream stderr() {
        return join(stderr);
    }

    /**
     * Releases any of our ends still blocked in open (the runtime never opened its end): opening a FIFO
     * read-write never blocks and counts as the missing peer.
     */
    @Override
    public void close() {
        release(stdoutFifo, stdout);
        release(stderrFifo, stderr);
        if (stdinFifo != null) {
            release(stdinFifo, stdinFeed);
        }
        stdout.thenAccept(FifoPipes::closeQuietly);
        stderr.thenAccept(FifoPipes::closeQuietly);
    }

    private static void release(File fifo, CompletableFuture<?> pending) {
        if (!pending.isDone()) {
            try (RandomAccessFile peer = new RandomAccessFile(fifo, "rw")) {
                pending.get(2, java.util.concurrent.TimeUnit.SECONDS);
            } catch (Exception ignored) {
                // best effort: the FIFO is deleted with the bundle anyway
            }
        }
    }

    private static InputStream openRead(File fifo) {
        try {
            return new FileInputStream(fifo);
        } catch (IOException e) {
            return InputStream.nullInputStream();
        }
    }

    private static void feed(File fifo, byte[] bytes) {
        try (OutputStream out = new FileOutputStream(fifo)) {
            out.write(bytes);
        } catch (IOException ignored) {
            // the program exited without reading all of its input: that is its business
        }
    }

    private static InputStream join(CompletableFuture<InputStream> future) {
        try {
            return future.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return InputStream.nullInputStream();
        } catch (ExecutionException e) {
            return InputStream.nullInputStream();
        }
    }

    private static void closeQuietly(InputStream in) {
        try {
            in.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }
}
