package io.mcpsandbox.runtime.oci;

import io.mcpsandbox.host.CgroupReader;
import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.runtime.LeftoverReaper;
import io.mcpsandbox.runtime.OwnerLock;
import io.mcpsandbox.runtime.SandboxCgroup;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.WorkspaceTmpfs;
import io.mcpsandbox.runtime.WritableRoot;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Crash recovery of the OCI backend, shared by its runtimes: finds sandboxes left by a process that died
 * and removes them with their containers, workspace mounts and cgroups. Candidates come only from this data
 * directory's bundles and this service's runtime state roots, never from host-wide names (another
 * installation's sandboxes are not ours). A sandbox whose owner lock is still held belongs to a live process
 * (a CLI run next to a server, say) and is left alone.
 */
public final class OciLeftoverReaper implements LeftoverReaper {
    private static final Logger log = LoggerFactory.getLogger(OciLeftoverReaper.class);
    /** A lock file with no bundle yet may belong to a process between creating and locking it. */
    private static final Duration YOUNG = Duration.ofSeconds(30);

    private final List<OciRuntime> runtimes;
    private final Path bundlesDir;
    private final CgroupReader cgroups;

    /** @param runtimes every runtime whose containers may be ours (a view: see {@link OciRuntime#allFlavors}) */
    OciLeftoverReaper(List<OciRuntime> runtimes, Path bundlesDir, CgroupReader cgroups) {
        this.runtimes = runtimes;
        this.bundlesDir = bundlesDir;
        this.cgroups = cgroups;
    }

    /** Removes every sandbox whose owner lock is free and returns their names (mcp-exec-&lt;executionId&gt;). */
    @Override
    public List<String> reapLeftovers() {
        List<String> reaped = new ArrayList<>();
        for (String name : candidates()) {
            try {
                Optional<OwnerLock> lock = claim(name);
                if (lock.isEmpty()) {
                    continue;
                }
                try (OwnerLock held = lock.get()) {
                    remove(name);
                    reaped.add(name);
                }
            } catch (IOException e) {
                log.warn("leftover sandbox {} not removed: {}", name, e.getMessage());
            }
        }
        if (!reaped.isEmpty()) {
            log.warn("removed {} sandbox(es) left by a previous process: {}", reaped.size(), reaped);
        }
        return reaped;
    }

    /**
     * A cheap look for leftovers, from this data directory alone (no runtime binary runs): a bundle or lock
     * file whose owner lock is free. Sandboxes whose bundle and lock are both gone but whose container a
     * runtime still lists are found only by {@link #reapLeftovers()}.
     */
    @Override
    public boolean hasLeftovers() {
        try {
            return bundleNames().stream().anyMatch(n -> !ownedByLiveProcess(n));
        } catch (IOException e) {
            return true; // let the full reaper look and say why
        }
    }

    /** Whether a live process holds the sandbox's owner lock (it is running or being torn down). */
    @Override
    public boolean ownedByLiveProcess(String name) {
        return OwnerLock.heldByLiveProcess(OwnerLock.fileFor(bundlesDir, name));
    }

    /** The lock of a dead owner, or empty when a live process owns the sandbox. */
    private Optional<OwnerLock> claim(String name) throws IOException {
        Path lockFile = OwnerLock.fileFor(bundlesDir, name);
        Path bundle = bundlesDir.resolve(name);
        if (!Files.exists(lockFile)) {
            // The owner drops its lock last, so a sandbox without one is half torn down: take it over.
            Files.createDirectories(bundlesDir);
            return Optional.of(OwnerLock.acquire(lockFile));
        }
        if (!Files.exists(bundle)
                && Files.getLastModifiedTime(lockFile).toInstant().isAfter(Instant.now().minus(YOUNG))) {
            return Optional.empty();
        }
        return OwnerLock.tryAcquire(lockFile);
    }

    private void remove(String name) throws IOException {
        for (OciRuntime runtime : runtimes) {
            if (runtime.probe().usable()) {
                runtime.forceDelete(name);
            }
        }
        WorkspaceTmpfs.unmount(bundlesDir.resolve(name).resolve("workspace"));
        WritableRoot.unmount(bundlesDir.resolve(name));
        SandboxCgroup.existing(cgroups, BundleWriter.cgroupPath(name)).remove();
        if (WritableRoot.anyMounted(bundlesDir.resolve(name))) {
            throw new IOException("something is still mounted below " + bundlesDir.resolve(name));
        }
        DeleteTree.deleteQuietly(bundlesDir.resolve(name));
    }

    /** Sandbox names with a bundle or an owner lock in this data directory. */
    private TreeSet<String> bundleNames() throws IOException {
        TreeSet<String> names = new TreeSet<>();
        if (Files.isDirectory(bundlesDir)) {
            try (Stream<Path> entries = Files.list(bundlesDir)) {
                entries.map(p -> p.getFileName().toString())
                        .filter(n -> n.startsWith(SandboxSpec.NAME_PREFIX))
                        .map(n -> n.endsWith(".lock") ? n.substring(0, n.length() - ".lock".length()) : n)
                        .forEach(names::add);
            }
        }
        return names;
    }

    private TreeSet<String> candidates() {
        TreeSet<String> names = new TreeSet<>();
        try {
            names.addAll(bundleNames());
        } catch (IOException e) {
            log.warn("cannot list {}: {}", bundlesDir, e.getMessage());
        }
        for (OciRuntime runtime : runtimes) {
            try {
                if (runtime.probe().usable()) {
                    runtime.listContainers().stream().filter(n -> n.startsWith(SandboxSpec.NAME_PREFIX))
                            .forEach(names::add);
                }
            } catch (IOException e) {
                log.warn("cannot list {} containers: {}", runtime.name(), e.getMessage());
            }
        }
        return names;
    }
}
