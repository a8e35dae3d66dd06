package io.mcpsandbox.runtime.microvm;

import io.mcpsandbox.host.CgroupReader;
import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.runtime.LeftoverReaper;
import io.mcpsandbox.runtime.OwnerLock;
import io.mcpsandbox.runtime.SandboxCgroup;
import io.mcpsandbox.runtime.SandboxSpec;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Crash recovery of microVMs: a VM directory whose owner lock is free belongs to a dead process. Its QEMU may
 * still run (it is not a child of the dead JVM's session): removing its cgroup kills it; then the directory
 * goes.
 */
final class MicrovmLeftoverReaper implements LeftoverReaper {
    private static final Logger log = LoggerFactory.getLogger(MicrovmLeftoverReaper.class);

    private final Path vmsDir;
    private final CgroupReader cgroups;

    MicrovmLeftoverReaper(Path vmsDir, CgroupReader cgroups) {
        this.vmsDir = vmsDir;
        this.cgroups = cgroups;
    }

    @Override
    public List<String> reapLeftovers() {
        List<String> reaped = new ArrayList<>();
        for (String name : vmNames()) {
            try {
                Optional<OwnerLock> lock = OwnerLock.tryAcquire(OwnerLock.fileFor(vmsDir, name));
                if (lock.isEmpty() && Files.exists(OwnerLock.fileFor(vmsDir, name))) {
                    continue; // a live process owns it
                }
                SandboxCgroup.existing(cgroups, SandboxCgroup.pathFor(name)).remove();
                DeleteTree.deleteQuietly(vmsDir.resolve(name));
                lock.ifPresent(OwnerLock::close);
                reaped.add(name);
            } catch (IOException e) {
                log.warn("cannot reap the microVM {}: {}", name, e.getMessage());
            }
        }
        return reaped;
    }

    @Override
    public boolean hasLeftovers() {
        for (String name : vmNames()) {
            if (!ownedByLiveProcess(name)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public boolean ownedByLiveProcess(String sandboxName) {
        return OwnerLock.heldByLiveProcess(OwnerLock.fileFor(vmsDir, sandboxName));
    }

    /** The VM directories (named as their sandbox); lock files and anything else are not VMs. */
    private List<String> vmNames() {
        List<String> names = new ArrayList<>();
        if (!Files.isDirectory(vmsDir, LinkOption.NOFOLLOW_LINKS)) {
            return names;
        }
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(vmsDir)) {
            for (Path entry : entries) {
                String name = entry.getFileName().toString();
                if (name.startsWith(SandboxSpec.NAME_PREFIX) && Files.isDirectory(entry, LinkOption.NOFOLLOW_LINKS)) {
                    names.add(name);
                }
            }
        } catch (IOException e) {
            log.warn("cannot list {}: {}", vmsDir, e.getMessage());
        }
        return names;
    }
}
