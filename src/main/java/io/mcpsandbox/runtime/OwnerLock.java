package io.mcpsandbox.runtime;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;
import java.util.Set;

/**
 * Marks a sandbox as owned by a live process: the owner holds an exclusive lock on
 * {@code <bundles>/<name>.lock} for the sandbox's whole life (taken before the bundle exists, dropped after
 * it is gone). The kernel releases the lock when the owner dies, even by SIGKILL, so a sandbox whose lock
 * can be taken is a leftover of a dead process.
 */
public final class OwnerLock implements AutoCloseable {
    private final Path file;
    private final FileLock lock;

    private OwnerLock(Path file, FileLock lock) {
        this.file = file;
        this.lock = lock;
    }

    public FileLock lock() {
        return lock;
    }

    public static Path fileFor(Path bundlesDir, String name) {
        return bundlesDir.resolve(name + ".lock");
    }

    public static OwnerLock acquire(Path file) throws IOException {
        // Root only: anyone able to open it could hold a read lock and make a dead owner's sandbox look alive.
        FileChannel channel = FileChannel.open(file, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        return new OwnerLock(file, channel.lock());
    }

    /** Takes the lock only if nobody holds it; empty means a live process owns the sandbox (or it is gone). */
    public static Optional<OwnerLock> tryAcquire(Path file) throws IOException {
        FileChannel channel;
        try {
            channel = FileChannel.open(file, StandardOpenOption.WRITE);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException heldByThisProcess) {
            lock = null;
        }
        if (lock == null) {
            channel.close();
            return Optional.empty();
        }
        return Optional.of(new OwnerLock(file, lock));
    }

    /**
     * Whether a live process holds this owner lock (its sandbox is running or being torn down). Only looks: a
     * free lock is released again and its file left for the reaper. In doubt (an I/O error), held.
     */
    public static boolean heldByLiveProcess(Path file) {
        try {
            if (!Files.exists(file)) {
                return false;
            }
            Optional<OwnerLock> lock = tryAcquire(file);
            if (lock.isPresent()) {
                lock.get().lock().channel().close(); // releases the lock with the channel
                return false;
            }
            return true;
        } catch (IOException e) {
            return true;
        }
    }

    /** Deletes the lock file, then releases the lock. */
    @Override
    public void close() {
        try {
            Files.deleteIfExists(file);
        } catch (IOException ignored) {
            // a later reaper removes it
        }
        try {
            lock.channel().close();
        } catch (IOException ignored) {
            // the lock goes with the channel
        }
    }
}
