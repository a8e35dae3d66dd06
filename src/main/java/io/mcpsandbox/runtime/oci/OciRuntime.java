package io.mcpsandbox.runtime.oci;

import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.host.CgroupReader;
import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.host.HostCommand;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.runtime.FifoPipes;
import io.mcpsandbox.runtime.LeftoverReaper;
import io.mcpsandbox.runtime.OwnerLock;
import io.mcpsandbox.runtime.PreparedSandbox;
import io.mcpsandbox.runtime.PrivatePaths;
import io.mcpsandbox.runtime.SandboxCgroup;
import io.mcpsandbox.runtime.SandboxException;
import io.mcpsandbox.runtime.SandboxRuntime;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.UidRangeAllocator;
import io.mcpsandbox.runtime.WorkspaceTmpfs;
import io.mcpsandbox.runtime.WritableRoot;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/**
 * The OCI backend: writes a bundle and drives one OCI runtime binary (runc, runsc, crun, kata-runtime)
 * through create/start/kill/delete, the way containerd's shims do.
 */
public final class OciRuntime implements SandboxRuntime {
    /** A writable root's store and overlays, in the bundle (see {@link WritableRoot}). */
    static final String WRITABLE_ROOT_DIR = "rootfs-rw";

    private final OciFlavor flavor;
    private final Path stateRoot;
    private final Path bundlesDir;
    private final BundleWriter bundles;
    private final UidRangeAllocator uids;
    private final CgroupReader cgroups;
    private final OciLeftoverReaper leftovers;

    /**
     * @param stateRoot  this runtime's --root (its container state), private to mcp-sandbox
     * @param bundlesDir where bundles are written, one directory per sandbox
     */
    private OciRuntime(OciFlavor flavor, Path stateRoot, Path bundlesDir, BundleWriter bundles,
                       UidRangeAllocator uids, CgroupReader cgroups, OciLeftoverReaper leftovers) {
        this.flavor = flavor;
        this.stateRoot = stateRoot;
        this.bundlesDir = bundlesDir;
        this.bundles = bundles;
        this.uids = uids;
        this.cgroups = cgroups;
        this.leftovers = leftovers;
    }

    /**
     * One runtime per flavor, sharing the bundles directory, the uid ranges and one reaper: any flavor's
     * container may sit behind a leftover bundle, so the reaper asks every runtime.
     *
     * @param stateDir   the parent of each runtime's --root (one directory per binary), private to mcp-sandbox
     * @param bundlesDir where bundles are written, one directory per sandbox
     */
    public static List<OciRuntime> allFlavors(Path stateDir, Path bundlesDir, BundleWriter bundles,
                                              UidRangeAllocator uids, CgroupReader cgroups) {
        List<OciRuntime> runtimes = new ArrayList<>();
        // The reaper sees this list through a read-only view: it is complete before anyone can call the reaper.
        OciLeftoverReaper reaper = new OciLeftoverReaper(Collections.unmodifiableList(runtimes), bundlesDir, cgroups);
        for (OciFlavor flavor : OciFlavor.values()) {
            runtimes.add(new OciRuntime(flavor, stateDir.resolve(flavor.binary()), bundlesDir, bundles, uids,
                    cgroups, reaper));
        }
        return List.copyOf(runtimes);
    }

    @Override
    public LeftoverReaper leftovers() {
        return leftovers;
    }

    @Override
    public String name() {
        return flavor.binary();
    }

    @Override
    public List<SecurityLevel> levels() {
        return flavor.levels();
    }

    OciFlavor flavor() {
        return flavor;
    }

    CgroupReader cgroups() {
        return cgroups;
    }

    public Path stateRoot() {
        return stateRoot;
    }

    /** The runtime binary with its global flags, followed by {@code args}. */
    public List<String> command(String... args) {
        List<String> argv = new ArrayList<>();
        argv.add(flavor.binary());
        argv.add("--root");
        argv.add(stateRoot.toString());
        if (flavor == OciFlavor.RUNSC) {
            // No network device at all (the netns is empty anyway), our seccomp profile applied inside, and
            // the cgroup is ours (see SandboxCgroup). The bind mounts (/usr, the workspace...) change only
            // through the sandbox itself (the host writes files through the agent, or before the start), so
            // the sentry may cache their dentries as it does the root's: without it every lookup under /usr
            // asks the gofer again, and python's start in a running sandbox takes ~40% longer.
            argv.add("--network=none");
            argv.add("--oci-seccomp");
            argv.add("--ignore-cgroups");
            argv.add("--file-access-mounts=exclusive");
        } else if (flavor == OciFlavor.CRUN) {
            argv.add("--cgroup-manager=disabled"); // the cgroup is ours (see SandboxCgroup)
        }
        argv.addAll(List.of(args));
        return argv;
    }

    @Override
    public RuntimeInfo probe() {
        if (uids.conflict().isPresent()) {
            return RuntimeInfo.unusable(name(), null, uids.conflict().get(), levels());
        }
        if (!Files.isExecutable(bundles.agent())) {
            return RuntimeInfo.unusable(name(), null, SandboxConfig.agentMissing(bundles.agent()), levels());
        }
        if (BundleWriter.needsNsenterHook(flavor) && !Files.isExecutable(Path.of(BundleWriter.NSENTER))) {
            return RuntimeInfo.unusable(name(), null, BundleWriter.NSENTER + " is missing (Debian package util-linux): "
                    + "it sets each sandbox's inotify limits before the program starts", levels());
        }
        Optional<Path> binary = HostCommand.find(flavor.binary()); // the same lookup HostCommand runs it with
        if (binary.isEmpty()) {
            return RuntimeInfo.unusable(name(), null, flavor.binary() + " is not installed (not found on "
                    + HostCommand.HOST_PATH + ")", levels());
        }
        try {
            HostCommand.Result r = HostCommand.run(List.of(binary.get().toString(), "--version"),
                    Duration.ofSeconds(10));
            String version = firstVersionLine(r.stdout() + "\n" + r.stderr());
            if (!r.ok()) {
                return RuntimeInfo.unusable(name(), version, flavor.binary() + " --version failed: " + r.message(),
                        levels());
            }
            return RuntimeInfo.usable(name(), version, levels());
        } catch (IOException e) {
            return RuntimeInfo.unusable(name(), null, e.getMessage(), levels());
        }
    }

    @Override
    public PreparedSandbox prepare(SandboxSpec spec) throws SandboxException {
        long uidBase = uids.acquire();
        Path bundle = bundlesDir.resolve(spec.name());
        OwnerLock owner = null;
        SandboxCgroup cgroup = null;
        FifoPipes pipes = null;
        try {
            // Runtime state (runc's state.json holds the whole config) is root's alone.
            PrivatePaths.directory(stateRoot, PrivatePaths.OWNER_ONLY_DIR);
            PrivatePaths.directory(bundlesDir, PrivatePaths.TRAVERSE_ONLY);
            owner = OwnerLock.acquire(OwnerLock.fileFor(bundlesDir, spec.name()));
            // Root's alone where the runtime allows it, else traversable but neither listable nor readable;
            // either way config.json, the log, the FIFOs and the workspace inside are closed to other users.
            PrivatePaths.directory(bundle, flavor.acceptsPrivateBundle() ? PrivatePaths.OWNER_ONLY_DIR
                    : PrivatePaths.TRAVERSE_ONLY);
            PrivatePaths.file(bundle.resolve(OciSandbox.LOG_FILE));
            // Filled on the host: a tmpfs declared in config.json would be empty until the program starts.
            WorkspaceTmpfs.mount(bundle.resolve("workspace"), spec.limits().tmpBytes(),
                    spec.limits().tmpInodes(), uidBase + BundleWriter.SANDBOX_UID,
                    spec.workspaceFiles());
            List<WritableRoot.Tree> writable = List.of();
            if (spec.writableRoot()) {
                // In the bundle, root's alone: the overlays' upper layers are on a tmpfs of the root's size cap.
                writable = WritableRoot.mount(bundle.resolve(WRITABLE_ROOT_DIR), spec.rootfs(),
                        spec.writableRootBytes(), spec.limits().tmpInodes(), uidBase + BundleWriter.SANDBOX_UID)
                        .trees();
            }
            bundles.write(bundle, spec, flavor, bundle.resolve("workspace"), uidBase, writable);
            if (flavor.usesOwnCgroup()) {
                cgroup = SandboxCgroup.create(cgroups, BundleWriter.cgroupPath(spec.name()), spec.limits(),
                        BundleWriter.pidsLimit(flavor, spec.limits()));
            }
            // In a directory of their own, root's alone: runsc hands the stdin FIFO to the host's nobody (65534).
            pipes = FifoPipes.create(PrivatePaths.directory(bundle.resolve("stdio"), PrivatePaths.OWNER_ONLY_DIR));
            return new OciSandbox(this, spec.name(), bundle, uidBase, cgroup, pipes, owner);
        } catch (IOException | RuntimeException e) {
            if (pipes != null) {
                pipes.close();
            }
            if (cgroup != null) {
                cgroup.remove();
            }
            WorkspaceTmpfs.unmount(bundle.resolve("workspace"));
            WritableRoot.unmount(bundle.resolve(WRITABLE_ROOT_DIR));
            if (!WritableRoot.anyMounted(bundle)) {
                DeleteTree.deleteQuietly(bundle);
            }
            if (owner != null) {
                owner.close();
            }
            uids.release(uidBase);
            throw new SandboxException("cannot prepare " + spec.name() + " for " + name() + ": " + e.getMessage(), e);
        }
    }

    void releaseUids(long hostUidBase) {
        uids.release(hostUidBase);
    }

    public Path bundlesDir() {
        return bundlesDir;
    }

    /** Deletes a container of this runtime, whatever its state. */
    void forceDelete(String name) throws IOException {
        HostCommand.run(command("delete", "--force", name), Duration.ofSeconds(30));
    }

    /** Names of this runtime's containers that are still known to it (leftover checks, crash recovery). */
    public List<String> listContainers() throws IOException {
        if (!Files.isDirectory(stateRoot)) {
            return List.of();
        }
        HostCommand.Result r = HostCommand.run(command("list", "--quiet"), Duration.ofSeconds(30));
        if (!r.ok()) {
            throw new IOException(flavor.binary() + " list failed: " + r.message());
        }
        return r.stdout().lines().map(String::trim).filter(s -> !s.isEmpty()).toList();
    }


    private static String firstVersionLine(String text) {
        return text.lines().map(String::trim).filter(l -> !l.isEmpty()).findFirst().orElse("unknown");
    }
}
