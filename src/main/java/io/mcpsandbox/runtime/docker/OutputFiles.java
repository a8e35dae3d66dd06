package io.mcpsandbox.runtime.docker;

import io.mcpsandbox.runtime.WorkspaceTmpfs;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.Pipe;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;

/**
 * A Docker sandbox's stdout and stderr: two files on a host tmpfs, bound into the container and written by the
 * program directly, read here as they grow and handed on through two pipes.
 *
 * <p>Not Docker's log: the json-file driver truncates its file in place at its size cap, which loses a
 * follower (an output flood then ended as a timeout), and every line costs a JSON record on the daemon's
 * disk and a frame on the API. The tmpfs is as large as the output cap plus a few pages, so no program can
 * hold more than that (in memory, charged to its own memory cgroup); the execution layer kills the
 * sandbox at the first byte over the cap, which fits. Nothing past that byte is copied: a program that
 * grows its file with holes cannot keep the copy busy.
 */
final class OutputFiles implements AutoCloseable {
    static final String STDOUT_MOUNT = "/.mcp-stdout";
    static final String STDERR_MOUNT = "/.mcp-stderr";
    private static final long PAGE = 4096;
    private static final long MAX_IDLE_SLEEP_MS = 20;

    private final Path dir;
    private final long copyLimit;
    private final FileChannel stdoutFile;
    private final FileChannel stderrFile;
    private final Pipe out = Pipe.open();
    private final Pipe err = Pipe.open();
    private volatile boolean programEnded;
    private volatile Thread tail;

    private OutputFiles(Path dir, long capBytes, FileChannel stdoutFile, FileChannel stderrFile) throws IOException {
        this.dir = dir;
        this.copyLimit = capBytes + 1;
        this.stdoutFile = stdoutFile;
        this.stderrFile = stderrFile;
    }

    /** Mounts the tmpfs at {@code dir} with two empty files owned by the sandbox user. */
    static OutputFiles create(Path dir, long capBytes, long ownerUid) throws IOException {
        // Each file rounds up to whole pages: room for the cap and at least one byte over it in either file.
        long size = (capBytes + PAGE - 1) / PAGE * PAGE + 3 * PAGE;
        // 0755, not the workspace's 0700: with 0700 a fork bomb under docker-runsc ran into its timeout instead
        // of reporting the refused fork (SandboxContainmentTest; cause inside gVisor not pinned down). Other host
        // users still cannot reach it: the sandbox directory around it is root's alone.
        WorkspaceTmpfs.mount(dir, size, 8, ownerUid, Map.of("stdout", new byte[0], "stderr", new byte[0]), "0755");
        // Opened before the program runs and without following links: whatever it does to the names later,
        // these are the files it was given.
        FileChannel stdout = null;
        try {
            stdout = FileChannel.open(dir.resolve("stdout"), StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
            FileChannel stderr = FileChannel.open(dir.resolve("stderr"), StandardOpenOption.READ,
                    LinkOption.NOFOLLOW_LINKS);
            return new OutputFiles(dir, capBytes, stdout, stderr);
        } catch (IOException e) {
            if (stdout != null) {
                closeQuietly(stdout);
            }
            WorkspaceTmpfs.unmount(dir);
            throw e;
        }
    }

    Path stdoutPath() {
        return dir.resolve("stdout");
    }

    Path stderrPath() {
        return dir.resolve("stderr");
    }

    InputStream stdout() {
        return Channels.newInputStream(out.source());
    }

    InputStream stderr() {
        return Channels.newInputStream(err.source());
    }

    /** Starts copying what the program writes into the pipes (a full pipe waits for its reader). */
    void startTailing(String sandboxName) {
        tail = Thread.ofPlatform().daemon().name("output-" + sandboxName).start(this::copyUntilEnded);
    }

    private void copyUntilEnded() {
        ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
        long sleepMs = 1;
        long total = 0;
        try {
            while (true) {
                boolean ended = programEnded; // read before the copy: what was written before the end is copied
                long copied = copyAvailable(stdoutFile, out.sink(), buffer, copyLimit - total);
                copied += copyAvailable(stderrFile, err.sink(), buffer, copyLimit - total - copied);
                total += copied;
                if (ended && copied == 0 || total >= copyLimit) {
                    return; // at the limit the pipes end, and the execution layer has seen the byte over the cap
                }
                if (copied > 0) {
                    sleepMs = 1;
                    continue;
                }
                if (Thread.currentThread().isInterrupted()) {
                    return;
                }
                // Woken early by finish(): the end of a program is not delayed by the idle back-off.
                LockSupport.parkNanos(sleepMs * 1_000_000);
                sleepMs = Math.min(MAX_IDLE_SLEEP_MS, sleepMs * 2);
            }
        } catch (IOException closedOrStopped) {
            // the sandbox is being closed
        } finally {
            closeQuietly(out.sink());
            closeQuietly(err.sink());
        }
    }

    /** Copies what {@code from} has beyond its position, at most {@code budget} bytes. */
    private static long copyAvailable(FileChannel from, Pipe.SinkChannel to, ByteBuffer buffer, long budget)
            throws IOException {
        long copied = 0;
        while (copied < budget) {
            buffer.clear().limit((int) Math.min(buffer.capacity(), budget - copied));
            int n = from.read(buffer);
            if (n <= 0) {
                return copied;
            }
            buffer.flip();
            while (buffer.hasRemaining()) {
                to.write(buffer);
            }
            copied += n;
        }
        return copied;
    }

    /** The program has ended: copies what is left, then ends both streams (waiting at most {@code max}). */
    void finish(Duration max) throws InterruptedException {
        programEnded = true;
        Thread t = tail;
        if (t != null) {
            LockSupport.unpark(t);
            if (!t.join(max)) {
                t.interrupt();
            }
        }
    }

    @Override
    public void close() {
        programEnded = true;
        Thread t = tail;
        if (t != null) {
            t.interrupt();
        }
        closeQuietly(out.source());
        closeQuietly(err.source());
        closeQuietly(out.sink());
        closeQuietly(err.sink());
        closeQuietly(stdoutFile);
        closeQuietly(stderrFile);
        WorkspaceTmpfs.unmount(dir);
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // closing
        }
    }
}
