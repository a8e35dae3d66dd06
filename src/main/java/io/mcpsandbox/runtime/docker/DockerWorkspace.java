package io.mcpsandbox.runtime.docker;

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
 * The sandbox's /workspace: a size-capped tmpfs on the host, filled with the request's files (owned by the
 * sandbox uid) before the container starts, and bound read-write into it. A Docker tmpfs mount is empty
 * until the container starts and {@code copyArchiveToContainer} into it would land under the mount, so the
 * files are placed on the host side instead; this needs the daemon on this host (a unix socket).
 */
final class DockerWorkspace {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private DockerWorkspace() {
    }

    static void mount(Path dir, long sizeBytes, int uid, Map<String, byte[]> files) throws IOException {
        Files.createDirectories(dir);
        HostCommand.check(List.of("mount", "-t", "tmpfs", "-o",
                "size=" + sizeBytes + ",mode=0755,nosuid,nodev,uid=" + uid + ",gid=" + uid,
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
                Files.setAttribute(p, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
                Files.setAttribute(p, "unix:gid", uid, LinkOption.NOFOLLOW_LINKS);
            }
        }
    }

    /** Unmounts (lazily if something still holds it). Never throws. */
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
