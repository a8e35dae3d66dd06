package io.mcpsandbox.runtime;

import io.mcpsandbox.host.HostIdFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Hands each live sandbox its own range of 65536 host uids for its user namespace, so two sandboxes never
 * share a host uid (no shared rlimit counters, no shared file ownership). A slot is held by a file lock,
 * so a CLI run and a server on the same host never pick the same range. The whole span is checked once, at
 * construction, against the host's users, groups and subordinate ranges: on an overlap no range is handed out.
 */
public final class UidRangeAllocator {
    public static final int RANGE = 65536;

    private final long base;
    private final int slots;
    private final Path lockDir;
    private final Optional<String> conflict;
    private final Map<Long, FileLock> held = new ConcurrentHashMap<>();

    public UidRangeAllocator(long base, int slots, Path lockDir, HostIdFiles hostIds) {
        this.base = base;
        this.slots = slots;
        this.lockDir = lockDir;
        this.conflict = hostIds.conflictWith(base, last());
    }

    /** The last host uid of the whole span. */
    public long last() {
        return base + (long) slots * RANGE - 1;
    }

    /** Why no range may be handed out here (the span overlaps a host user, group or subordinate range). */
    public Optional<String> conflict() {
        return conflict;
    }

    /** Returns the first host uid of a free range. */
    public synchronized long acquire() {
        if (conflict.isPresent()) {
            throw new IllegalStateException(conflict.get());
        }
        try {
            // Root only: anyone able to open a slot file could hold a read lock on it and starve the allocator.
            PrivatePaths.directory(lockDir, PrivatePaths.OWNER_ONLY_DIR);
            for (int slot = 0; slot < slots; slot++) {
                long first = base + (long) slot * RANGE;
                if (held.containsKey(first)) {
                    continue;
                }
                FileChannel channel = FileChannel.open(PrivatePaths.file(lockDir.resolve("slot-" + slot)),
                        StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
                FileLock lock;
                try {
                    lock = channel.tryLock();
                } catch (OverlappingFileLockException e) {
                    lock = null;
                }
                if (lock == null) {
                    channel.close();
                    continue;
                }
                held.put(first, lock);
                return first;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot allocate a sandbox uid range in " + lockDir, e);
        }
        throw new IllegalStateException("all " + slots + " sandbox uid ranges are in use");
    }

    public synchronized void release(long hostUidBase) {
        FileLock lock = held.remove(hostUidBase);
        if (lock != null) {
            try {
                lock.channel().close();
            } catch (IOException ignored) {
                // the lock goes with the channel
            }
        }
    }
}
