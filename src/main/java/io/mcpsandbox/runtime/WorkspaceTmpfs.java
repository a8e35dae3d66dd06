package io.mcpsandbox.runtime;

import io.mcpsandbox.host.Libc;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;

/**
 * A sandbox's /workspace: a per-sandbox tmpfs on the host, capped in size, filled with the request's files
 * and owned by the sandbox user before the sandbox starts; the backend binds it read-write at /workspace.
 * A tmpfs that the runtime mounts itself is empty until the program starts; a plain host directory would
 * have no size cap. Its root is 0700 (the sandbox user's alone): other host users must not read a running
 * sandbox's files.
 */
public final class WorkspaceTmpfs {
    private WorkspaceTmpfs() {
    }

    /**
     * Mounts the tmpfs at {@code dir} and places {@code files} (paths relative to it) in it.
     *
     * @param inodes   the tmpfs's inode cap (the kernel's default scales with host RAM)
     * @param ownerUid host uid (and gid) owning the tmpfs, the files and the directories made for them
     * @throws IOException also for a file path that escapes {@code dir}
     */
    public static void mount(Path dir, long sizeBytes, long inodes, long ownerUid, Map<String, byte[]> files)
            throws IOException {
        mount(dir, sizeBytes, inodes, ownerUid, files, "0700");
    }

    /** As above with the tmpfs root's {@code mode} (octal), for a tmpfs that is not a workspace. */
    public static void mount(Path dir, long sizeBytes, long inodes, long ownerUid, Map<String, byte[]> files,
                             String mode) throws IOException {
        if (!mode.matches("0[0-7]{3}")) {
            throw new IllegalArgumentException("tmpfs mode: expected four octal digits; got " + mode);
        }
        Files.createDirectories(dir);
        mountTmpfs("mcp-sandbox-workspace", dir, sizeBytes, inodes, mode, ownerUid);
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
                Files.setAttribute(p, "unix:uid", (int) ownerUid, LinkOption.NOFOLLOW_LINKS);
                Files.setAttribute(p, "unix:gid", (int) ownerUid, LinkOption.NOFOLLOW_LINKS);
            }
        }
    }

    /**
     * Mounts an empty tmpfs at {@code dir} for the sandbox's /tmp: used when the working directory lies below
     * /tmp, so that it can be made here before the program starts. Mode 0700 and owned by the sandbox user (who
     * runs everything in the sandbox), not 1777: the runtime's command line names the bundle, and no other host
     * user may reach into it.
     */
    public static void mountTmp(Path dir, long sizeBytes, long inodes, long ownerUid) throws IOException {
        Files.createDirectories(dir);
        mountTmpfs("mcp-sandbox-tmp", dir, sizeBytes, inodes, "0700", ownerUid);
    }

    /** A tmpfs, nosuid and nodev, of that size, inode cap, root mode and owner (uid and gid). */
    static void mountTmpfs(String source, Path dir, long sizeBytes, long inodes, String mode, long ownerUid)
            throws IOException {
        Libc.mount(source, dir, "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV, "size=" + sizeBytes + ",nr_inodes="
                + inodes + ",mode=" + mode + ",uid=" + ownerUid + ",gid=" + ownerUid);
    }

    /**
     * Makes {@code relative} (a checked working directory below the tmpfs at {@code dir}) and its parents,
     * owned by {@code ownerUid}. Runs before the sandbox starts, on a tmpfs only we have written to; still,
     * nothing here follows a link, and an existing non-directory is an error.
     */
    public static void makeDirs(Path dir, String relative, long ownerUid) throws IOException {
        Path p = dir;
        for (String segment : relative.split("/")) {
            if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
                throw new IOException("working directory escapes its tmpfs: " + relative);
            }
            p = p.resolve(segment);
            if (!Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                Files.createDirectory(p); // fails on an existing file or link
                Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
                Files.setAttribute(p, "unix:uid", (int) ownerUid, LinkOption.NOFOLLOW_LINKS);
                Files.setAttribute(p, "unix:gid", (int) ownerUid, LinkOption.NOFOLLOW_LINKS);
            }
        }
    }

    /** Unmounts; lazily if something still holds it. Never throws. */
    public static void unmount(Path dir) {
        try {
            if (isMountPoint(dir)) {
                unmountOrDetach(dir);
            }
        } catch (IOException ignored) {
            // reported by the leftover checks
        }
    }

    /** umount, else a lazy umount (something still holds the mount); throws when both fail. */
    static void unmountOrDetach(Path dir) throws IOException {
        try {
            Libc.umount(dir, 0);
        } catch (IOException busy) {
            Libc.umount(dir, Libc.MNT_DETACH);
        }
    }

    public static boolean isMountPoint(Path dir) throws IOException {
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
