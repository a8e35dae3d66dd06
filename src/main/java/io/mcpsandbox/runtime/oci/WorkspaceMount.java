package io.mcpsandbox.runtime.oci;

import io.mcpsandbox.runtime.HostCommand;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * A per-sandbox tmpfs on the host, capped in size, filled with the request's files and owned by the
 * sandbox user; it is bound read-write at /workspace. A tmpfs declared in config.json could not be
 * filled before the program starts; a plain host directory would have no size cap.
 */
final class WorkspaceMount {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private WorkspaceMount() {
    }

    static void mount(Path dir, long sizeBytes, long inodes, long hostUid, Map<String, byte[]> files)
            throws IOException {
        Files.createDirectories(dir);
        HostCommand.check(List.of("mount", "-t", "tmpfs", "-o",
                "size=" + sizeBytes + ",nr_inodes=" + inodes + ",mode=0755,nosuid,nodev,uid=" + hostUid + ",gid=" + hostUid,
                "mcp-sandbox-workspace", dir.toString()), TIMEOUT);
        for (Map.Entry<String, byte[]> file : files.entrySet()) {
            Path target = dir.resolve(file.getKey()).normalize();
            if (!target.startsWith(dir) || target.equals(dir)) {
                throw new IOException("file path escapes /workspace: " + file.getKey());
            }
            Files.createDirectories(target.getParent());
            Files.write(target, file.getValue());
            Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-r--r--"));
            for (Path p = target; !p.equals(dir); p = p.getParent()) {
                // Numeric ids: the sandbox's uids have no names on the host.
                Files.setAttribute(p, "unix:uid", (int) hostUid, LinkOption.NOFOLLOW_LINKS);
                Files.setAttribute(p, "unix:gid", (int) hostUid, LinkOption.NOFOLLOW_LINKS);
            }
        }
    }

    /** Unmounts; lazily if something still holds it. Never throws. */
    static void unmount(Path dir) {
        try {
            if (!isMountPoint(dir)) {
                return;
            }
            if (!HostCommand.run(List.of("umount", dir.toString()), TIMEOUT).ok()) {
                HostCommand.run(List.of("umount", "-l", dir.toString()), TIMEOUT);
            }
        } catch (IOException ignored) {
            // reported by the leftover checks
        }
    }

    static boolean isMountPoint(Path dir) throws IOException {
        String target = dir.toAbsolutePath().toString();
        for (String line : Files.readAllLines(Path.of("/proc/self/mounts"))) {
            String[] fields = line.split(" ");
            if (fields.length > 1 && fields[1].equals(target)) {
                return true;
            }
        }
        return false;
    }
}
