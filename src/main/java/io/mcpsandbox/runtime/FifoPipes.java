package io.mcpsandbox.runtime;

import io.mcpsandbox.host.Libc;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The agent's stdio, its channel and its log, as named pipes that this process owns. Java's own child pipes
 * cannot be used: the JDK drains and closes them when the child exits, and {@code runsc create} exits while
 * the sandbox it created goes on writing. Opening a FIFO blocks until the other end opens, so our ends are
 * opened on their own threads before the runtime is started. Platform threads: a native open() pins a virtual
 * thread's carrier without compensation, and a few dozen concurrent sandboxes would starve the carriers.
 */
public final class FifoPipes implements AutoCloseable {
    private static final Set<PosixFilePermission> OWNER_RW = PosixFilePermissions.fromString("rw-------");

    private final File toAgentFifo;
    private final File fromAgentFifo;
    private final File logFifo;
    private final CompletableFuture<OutputStream> toAgent;
    private final CompletableFuture<InputStream> fromAgent;
    private final CompletableFuture<InputStream> log;

    private FifoPipes(Path toAgent, Path fromAgent, Path log) {
        this.toAgentFifo = toAgent.toFile();
        this.fromAgentFifo = fromAgent.toFile();
        this.logFifo = log.toFile();
        this.toAgent = CompletableFuture.supplyAsync(() -> openWrite(toAgentFifo), FifoPipes::platformThread);
        this.fromAgent = CompletableFuture.supplyAsync(() -> openRead(fromAgentFifo), FifoPipes::platformThread);
        this.log = CompletableFuture.supplyAsync(() -> openRead(logFifo), FifoPipes::platformThread);
    }

    /** Runs blocking FIFO I/O on a short-lived daemon platform thread (see the class comment). */
    public static void platformThread(Runnable task) {
        Thread.ofPlatform().daemon().name("sandbox-fifo").start(task);
    }

    public static FifoPipes create(Path dir) throws IOException {
        Path toAgent = dir.resolve("to-agent.fifo");
        Path fromAgent = dir.resolve("from-agent.fifo");
        Path log = dir.resolve("agent-log.fifo");
        for (Path fifo : List.of(toAgent, fromAgent, log)) {
            fifo(fifo, -1);
        }
        return new FifoPipes(toAgent, fromAgent, log);
    }

    /**
     * Our ends of FIFOs made beforehand (with {@link #fifo}), some of which a program may open by name rather
     * than inherit (QEMU's pipe chardev of the guest console).
     */
    public static FifoPipes open(Path toAgent, Path fromAgent, Path log) {
        return new FifoPipes(toAgent, fromAgent, log);
    }

    /** Makes a FIFO of mode exactly 0600 (whatever the umask), owned by {@code ownerUid} unless it is -1. */
    public static Path fifo(Path path, int ownerUid) throws IOException {
        Libc.mkfifo(path, 0600);
        Files.setPosixFilePermissions(path, OWNER_RW);
        if (ownerUid >= 0) {
            Files.setAttribute(path, "unix:uid", ownerUid, LinkOption.NOFOLLOW_LINKS);
            Files.setAttribute(path, "unix:gid", ownerUid, LinkOption.NOFOLLOW_LINKS);
        }
        return path;
    }

    /** Points the stdin and stdout of a process (QEMU, whose stdio chardev is the agent's port) at the channel. */
    public ProcessBuilder redirectChannel(ProcessBuilder pb) {
        return pb.redirectInput(ProcessBuilder.Redirect.from(toAgentFifo)).redirectOutput(fromAgentFifo);
    }

    /** Points the runtime process's stdio (the agent's, once it runs) at the FIFOs. */
    public ProcessBuilder redirect(ProcessBuilder pb) {
        return pb.redirectInput(ProcessBuilder.Redirect.from(toAgentFifo)).redirectOutput(fromAgentFifo)
                .redirectError(logFifo);
    }

    public OutputStream toAgent() {
        return join(toAgent, OutputStream.nullOutputStream());
    }

    public InputStream fromAgent() {
        return join(fromAgent, InputStream.nullInputStream());
    }

    public InputStream log() {
        return join(log, InputStream.nullInputStream());
    }

    /**
     * Releases any of our ends still blocked in open (the runtime never opened its end; opening a FIFO
     * read-write never blocks and counts as the missing peer) and closes ours.
     */
    @Override
    public void close() {
        release(toAgentFifo, toAgent);
        release(fromAgentFifo, fromAgent);
        release(logFifo, log);
        toAgent.thenAccept(FifoPipes::closeQuietly);
        fromAgent.thenAccept(FifoPipes::closeQuietly);
        log.thenAccept(FifoPipes::closeQuietly);
    }

    private static void release(File fifo, CompletableFuture<?> pending) {
        if (!pending.isDone()) {
            try (RandomAccessFile peer = new RandomAccessFile(fifo, "rw")) {
                pending.get(2, TimeUnit.SECONDS);
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

    private static OutputStream openWrite(File fifo) {
        try {
            return new FileOutputStream(fifo);
        } catch (IOException e) {
            return OutputStream.nullOutputStream();
        }
    }

    private static <T> T join(CompletableFuture<T> future, T none) {
        try {
            return future.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return none;
        } catch (ExecutionException e) {
            return none;
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // nothing to do
        }
    }
}
