package io.mcpsandbox.runtime.oci;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Whether the host's inotify limits for root cover the runc sandboxes that may run at once. Each runc sandbox
 * may hold {@link BundleWriter#MAX_INOTIFY_INSTANCES} instances and {@link BundleWriter#MAX_INOTIFY_WATCHES}
 * watches, and the kernel charges them all to root (the owner of every sandbox's user namespace) as well:
 * with too low a host limit, busy sandboxes could leave root's own processes without inotify.
 */
public final class InotifyBudget {
    /** What root's own processes (systemd, this server, editors of operators) are left at least. */
    static final int ROOT_HEADROOM_INSTANCES = 64;

    private InotifyBudget() {
    }

    /**
     * @param inotifyDir    normally /proc/sys/fs/inotify
     * @param maxConcurrent sandboxes that may run at once
     * @return a one-line warning naming the sysctl and the value that would do, or empty when the host suffices
     */
    public static Optional<String> check(Path inotifyDir, int maxConcurrent) {
        long neededInstances = (long) maxConcurrent * BundleWriter.MAX_INOTIFY_INSTANCES + ROOT_HEADROOM_INSTANCES;
        long neededWatches = (maxConcurrent + 1L) * BundleWriter.MAX_INOTIFY_WATCHES;
        try {
            long instances = Long.parseLong(Files.readString(inotifyDir.resolve("max_user_instances")).trim());
            long watches = Long.parseLong(Files.readString(inotifyDir.resolve("max_user_watches")).trim());
            if (instances >= neededInstances && watches >= neededWatches) {
                return Optional.empty();
            }
            return Optional.of("the host's inotify limits (fs.inotify.max_user_instances=" + instances
                    + ", max_user_watches=" + watches + ") are shared by root and " + maxConcurrent
                    + " concurrent runc sandboxes of up to " + BundleWriter.MAX_INOTIFY_INSTANCES + " instances and "
                    + BundleWriter.MAX_INOTIFY_WATCHES + " watches each: set fs.inotify.max_user_instances >= "
                    + neededInstances + " and fs.inotify.max_user_watches >= " + neededWatches
                    + " (sysctl -w), or lower admission.max-concurrent");
        } catch (IOException | NumberFormatException e) {
            return Optional.of("cannot read the host's inotify limits in " + inotifyDir + ": " + e.getMessage());
        }
    }
}
