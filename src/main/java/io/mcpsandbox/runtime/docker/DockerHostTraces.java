package io.mcpsandbox.runtime.docker;

import io.mcpsandbox.host.CgroupReader;
import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.runtime.SandboxCgroup;
import io.mcpsandbox.runtime.WorkspaceTmpfs;
import io.mcpsandbox.runtime.WritableRoot;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a Docker sandbox leaves on the host besides its container, and its removal: the sandbox directory
 * (workspace and output tmpfs, stdin, the owner file), our cgroup parent, and processes of a failed gVisor
 * start that the daemon no longer tracks. Used by a sandbox's own teardown and by the reaper.
 */
final class DockerHostTraces {
    private static final Logger log = LoggerFactory.getLogger(DockerHostTraces.class);
    /** cgroup parent (cgroupfs driver) under which Docker puts the container's cgroup; usage is read from it. */
    static final String CGROUP_PARENT = SandboxCgroup.PARENT;

    private final Path sandboxes;
    private final CgroupReader cgroups;
    private final OwnerId owner;

    DockerHostTraces(Path sandboxes, CgroupReader cgroups, OwnerId owner) {
        this.sandboxes = sandboxes;
        this.cgroups = cgroups;
        this.owner = owner;
    }

    /** The directory of every sandbox of this data directory. */
    Path sandboxes() {
        return sandboxes;
    }

    Path sandboxDir(String name) {
        return sandboxes.resolve(name);
    }

    /** Marks a new sandbox directory as this process's, before anything else exists in it. */
    void writeOwner(Path sandboxDir) throws IOException {
        Files.writeString(sandboxDir.resolve("owner"), owner.label());
    }

    static Optional<OwnerId> readOwner(Path sandboxDir) {
        try {
            return OwnerId.parse(Files.readString(sandboxDir.resolve("owner")).strip());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Unmounts the sandbox's tmpfs mounts and deletes its directory; a mount that stays keeps it in place. */
    static void removeSandboxDir(Path dir) {
        boolean stillMounted = false;
        for (String tmpfs : List.of("workspace", "output")) {
            WorkspaceTmpfs.unmount(dir.resolve(tmpfs));
            try {
                if (WorkspaceTmpfs.isMountPoint(dir.resolve(tmpfs))) {
                    log.warn("{} is still mounted; left in place", dir.resolve(tmpfs));
                    stillMounted = true;
                }
            } catch (IOException ignored) {
                // try to delete anyway
            }
        }
        WritableRoot.unmount(dir); // a writable root's store and overlays
        if (WritableRoot.anyMounted(dir)) {
            log.warn("{}: something is still mounted below it; left in place", dir);
            stillMounted = true;
        }
        if (!stillMounted) {
            DeleteTree.deleteQuietly(dir);
        }
    }

    /** Removes our cgroup parent of a sandbox (Docker removes the container's own cgroup below it). */
    void removeCgroup(String name) {
        for (Path dir : cgroups.directories(CGROUP_PARENT + "/" + name)) {
            if (!Files.isDirectory(dir)) {
                continue;
            }
            try (Stream<Path> children = Files.list(dir)) {
                for (Path child : children.filter(Files::isDirectory).toList()) {
                    Files.deleteIfExists(child); // an empty container cgroup a failed runtime left
                }
            } catch (IOException e) {
                log.debug("cgroup {}: {}", dir, e.getMessage());
            }
            try {
                Files.deleteIfExists(dir);
            } catch (IOException e) {
                log.warn("cannot remove cgroup {}: {}", dir, e.getMessage());
            }
        }
    }

    /**
     * Kills host processes of a removed container that the daemon no longer tracks: a failed
     * {@code --runtime runsc} start has left its shim and sentry behind, invisible to {@code docker ps}.
     * Matched by the 64-hex container id on their command line, which nothing else carries.
     */
    static void killStrays(String containerId) {
        if (containerId == null || !containerId.matches("[0-9a-f]{64}")) {
            return;
        }
        for (int attempt = 0; attempt < 20; attempt++) {
            List<ProcessHandle> strays = ProcessHandle.allProcesses()
                    .filter(p -> p.pid() != ProcessHandle.current().pid())
                    .filter(p -> cmdline(p.pid()).contains(containerId)).toList();
            if (strays.isEmpty()) {
                return;
            }
            strays.forEach(ProcessHandle::destroyForcibly);
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        log.warn("processes of container {} survived SIGKILL", containerId);
    }

    private static String cmdline(long pid) {
        try {
            byte[] bytes = Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline"));
            return new String(bytes, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
