package io.mcpsandbox.queue;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/**
 * The right to dispatch from a data directory's queue: an exclusive lock on {@code <dataDir>/queue.lock}, held
 * for the process's life (the kernel drops it when the process dies, even by kill -9). Only its holder loads
 * the queue and runs from it, so no item is dispatched by two processes.
 */
public final class QueueLock implements AutoCloseable {
    public static final String FILE_NAME = "queue.lock";

    private final FileChannel channel;
    private final FileLock lock;

    private QueueLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** The lock, or empty when another process (or another queue in this one) holds it. */
    public static Optional<QueueLock> tryTake(Path dataDir) throws IOException {
        FileChannel channel = FileChannel.open(dataDir.resolve(FILE_NAME), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
        try {
            FileLock lock = channel.tryLock();
            if (lock != null) {
                return Optional.of(new QueueLock(channel, lock));
            }
        } catch (OverlappingFileLockException e) {
            // held by another queue of this JVM
        }
        channel.close();
        return Optional.empty();
    }

    @Override
    public void close() {
        try {
            lock.release();
            channel.close();
        } catch (IOException e) {
            // the process's exit drops it anyway
        }
    }
}
