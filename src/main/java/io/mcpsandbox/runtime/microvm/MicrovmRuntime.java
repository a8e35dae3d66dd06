package io.mcpsandbox.runtime.microvm;

import io.mcpsandbox.host.CgroupReader;
import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.host.HostCommand;
import io.mcpsandbox.model.ResourceLimits;
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
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The {@code microvm} runtime (docs/microvm.md): each sandbox is a QEMU microVM booting the project's guest
 * (Debian's kernel, an initramfs with the agent), the image root shared read-only over 9p. The agent speaks
 * the same protocol over a virtio-serial port as it does over a container's stdio, so everything above the
 * runtime SPI is the same. QEMU itself runs as a uid of its own (one of the sandbox uid ranges), in an empty
 * network namespace, in a cgroup holding its memory and CPU, under its own seccomp filter.
 */
public final class MicrovmRuntime implements SandboxRuntime {
    public static final String NAME = "microvm";
    /** Threads QEMU may have (vCPUs, I/O, 9p workers); the guest's own processes are counted in the guest. */
    static final long QEMU_PIDS = 512;
    private static final List<SecurityLevel> LEVELS = List.of(SecurityLevel.LOW, SecurityLevel.MEDIUM,
            SecurityLevel.HIGH, SecurityLevel.CRITICAL);

    private final MicrovmSettings settings;
    private final Path agent;
    private final Path vmsDir;
    private final UidRangeAllocator uids;
    private final CgroupReader cgroups;
    private final MicrovmLeftoverReaper leftovers;
    private volatile Acceleration acceleration;

    /**
     * @param agent  the agent the guest must hold (the one containers get)
     * @param vmsDir where each VM's directory (FIFOs, starting files) and owner lock live
     */
    public MicrovmRuntime(MicrovmSettings settings, Path agent, Path vmsDir, UidRangeAllocator uids,
                          CgroupReader cgroups) {
        this.settings = settings;
        this.agent = agent;
        this.vmsDir = vmsDir;
        this.uids = uids;
        this.cgroups = cgroups;
        this.leftovers = new MicrovmLeftoverReaper(vmsDir, cgroups);
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public List<SecurityLevel> levels() {
        return LEVELS;
    }

    /** A boot takes seconds of a core under TCG: {@code serve} does not boot one at every start. */
    @Override
    public boolean quickToStart() {
        return acceleration().kvm();
    }

    @Override
    public LeftoverReaper leftovers() {
        return leftovers;
    }

    Acceleration acceleration() {
        Acceleration a = acceleration;
        if (a == null) {
            a = Acceleration.detect(settings.accel(), Path.of("/"));
            acceleration = a;
        }
        return a;
    }

    @Override
    public RuntimeInfo probe() {
        if (uids.conflict().isPresent()) {
            return RuntimeInfo.unusable(NAME, null, uids.conflict().get(), LEVELS);
        }
        if (!Files.isExecutable(agent)) {
            return RuntimeInfo.unusable(NAME, null, io.mcpsandbox.config.SandboxConfig.agentMissing(agent), LEVELS);
        }
        for (String tool : List.of("setpriv", "unshare")) {
            if (HostCommand.find(tool).isEmpty()) {
                return RuntimeInfo.unusable(NAME, null, tool + " is missing (Debian package util-linux): QEMU runs "
                        + "as an unprivileged user in an empty network namespace", LEVELS);
            }
        }
        Optional<Path> qemu = HostCommand.find(settings.qemu());
        if (qemu.isEmpty()) {
            return RuntimeInfo.unusable(NAME, null, settings.qemu() + " is not installed (Debian package "
                    + "qemu-system-x86; not found on " + HostCommand.HOST_PATH + ")", LEVELS);
        }
        String version;
        try {
            HostCommand.Result r = HostCommand.run(List.of(qemu.get().toString(), "--version"), Duration.ofSeconds(10));
            if (!r.ok()) {
                return RuntimeInfo.unusable(NAME, null, settings.qemu() + " --version failed: " + r.message(), LEVELS);
            }
            version = r.stdout().lines().findFirst().orElse("unknown").trim();
        } catch (IOException e) {
            return RuntimeInfo.unusable(NAME, null, e.getMessage(), LEVELS);
        }
        Optional<String> guestProblem = settings.guest().problem(agent);
        if (guestProblem.isPresent()) {
            return RuntimeInfo.unusable(NAME, version, guestProblem.get(), LEVELS);
        }
        return RuntimeInfo.usable(NAME, version + "; guest kernel " + settings.guest().kernelRelease() + "; "
                + acceleration().why(), LEVELS);
    }

    @Override
    public PreparedSandbox prepare(SandboxSpec spec) throws SandboxException {
        if (spec.writableRoot()) {
            throw new SandboxException("a writable root is not available on " + NAME + " (its root is a read-only "
                    + "share of the image): use runc or runsc for rootfs \"writable\"");
        }
        long uidBase = uids.acquire();
        int qemuUid = Math.toIntExact(uidBase);
        Path vmDir = vmsDir.resolve(spec.name());
        OwnerLock owner = null;
        SandboxCgroup cgroup = null;
        FifoPipes pipes = null;
        try {
            PrivatePaths.directory(vmsDir, PrivatePaths.TRAVERSE_ONLY);
            owner = OwnerLock.acquire(OwnerLock.fileFor(vmsDir, spec.name()));
            // QEMU's alone (and root's): the FIFOs and the starting files are opened by QEMU, by name.
            PrivatePaths.directory(vmDir, PrivatePaths.OWNER_ONLY_DIR);
            chown(vmDir, qemuUid);
            boolean seed = !spec.workspaceFiles().isEmpty();
            if (seed) {
                writeSeed(vmDir.resolve(QemuCommand.SEED_TAG), spec.workspaceFiles(), qemuUid);
            }
            // The channel is QEMU's stdio (opened here, root's); the console QEMU opens by name (its uid's).
            Path toAgent = FifoPipes.fifo(vmDir.resolve("to-agent.fifo"), -1);
            Path fromAgent = FifoPipes.fifo(vmDir.resolve("from-agent.fifo"), -1);
            Path console = vmDir.resolve(QemuCommand.CONSOLE_CHARDEV);
            FifoPipes.fifo(Path.of(console + ".in"), qemuUid);
            FifoPipes.fifo(Path.of(console + ".out"), qemuUid);
            PrivatePaths.file(vmDir.resolve(MicrovmSandbox.QEMU_LOG));
            cgroup = SandboxCgroup.create(cgroups, SandboxCgroup.pathFor(spec.name()), hostLimits(spec.limits()),
                    QEMU_PIDS);
            String qemu = HostCommand.find(settings.qemu()).orElseThrow().toString();
            List<String> argv = QemuCommand.argv(qemu, settings.guest(),
                    acceleration(), vmDir, spec.rootfs(), spec.limits(), seed,
                    QemuCommand.hostTscKhz(Path.of("/proc/cpuinfo")));
            pipes = FifoPipes.open(toAgent, fromAgent, Path.of(console + ".out"));
            return new MicrovmSandbox(this, spec.name(), vmDir, uidBase, qemuUid, cgroup, pipes, owner, argv);
        } catch (IOException | RuntimeException e) {
            if (pipes != null) {
                pipes.close();
            }
            if (cgroup != null) {
                cgroup.remove();
            }
            DeleteTree.deleteQuietly(vmDir);
            if (owner != null) {
                owner.close();
            }
            uids.release(uidBase);
            throw new SandboxException("cannot prepare " + spec.name() + " for " + NAME + ": " + e.getMessage(), e);
        }
    }

    /** The host cgroup's limits: the guest's RAM plus QEMU's own, no swap; the CPU limit as given. */
    static ResourceLimits hostLimits(ResourceLimits limits) {
        long memory = (QemuCommand.guestMemoryMib(limits) << 20) + QemuCommand.QEMU_OVERHEAD_BYTES;
        return new ResourceLimits(limits.timeout(), memory, limits.cpus(), limits.pids(), limits.outputBytes(),
                limits.tmpBytes(), limits.openFiles());
    }

    /**
     * The starting files of /workspace, in a directory that guest/init copies into the guest's tmpfs. The
     * directory is new (nothing could have planted a link in it) and only QEMU's uid may read it.
     */
    private static void writeSeed(Path seed, Map<String, byte[]> files, int uid) throws IOException {
        PrivatePaths.directory(seed, PrivatePaths.OWNER_ONLY_DIR);
        chown(seed, uid);
        for (Map.Entry<String, byte[]> file : files.entrySet()) {
            Path target = seed.resolve(file.getKey()).normalize();
            if (!target.startsWith(seed) || target.equals(seed)) {
                throw new IOException("file path escapes /workspace: " + file.getKey());
            }
            Path dir = seed;
            for (Path part : target.getParent().equals(seed) ? List.<Path>of() : seed.relativize(target.getParent())) {
                dir = dir.resolve(part);
                if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                    Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(
                            PosixFilePermissions.fromString("rwxr-xr-x")));
                    chown(dir, uid);
                }
            }
            Files.write(target, file.getValue());
            Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-r--r--"));
            chown(target, uid);
        }
    }

    private static void chown(Path path, int uid) throws IOException {
        Files.setAttribute(path, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(path, "unix:gid", uid, LinkOption.NOFOLLOW_LINKS);
    }

    void release(long uidBase) {
        uids.release(uidBase);
    }

    CgroupReader cgroups() {
        return cgroups;
    }

}
