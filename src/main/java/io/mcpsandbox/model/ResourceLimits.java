package io.mcpsandbox.model;

import java.time.Duration;

/**
 * The limits a sandbox runs under, all resolved.
 *
 * @param outputBytes cap on stdout and stderr together
 * @param tmpBytes    size of each writable tmpfs (/tmp, /workspace, /dev/shm) and the file-size rlimit
 */
public record ResourceLimits(Duration timeout, long memoryBytes, double cpus, int pids, long outputBytes,
                             long tmpBytes, int openFiles) {

    /** Inodes of each writable tmpfs: one per 4 KiB of its size (the kernel's default scales with host RAM). */
    public long tmpInodes() {
        return Math.max(1024, tmpBytes / 4096);
    }
}
