package io.mcpsandbox.runtime.docker;

import com.github.dockerjava.api.command.CreateContainerResponse;
import com.github.dockerjava.api.command.InspectContainerResponse;
import com.github.dockerjava.api.command.WaitContainerResultCallback;
import com.github.dockerjava.api.exception.NotFoundException;
import com.github.dockerjava.api.model.AccessMode;
import com.github.dockerjava.api.model.Bind;
import com.github.dockerjava.api.model.Capability;
import com.github.dockerjava.api.model.HostConfig;
import com.github.dockerjava.api.model.LogConfig;
import com.github.dockerjava.api.model.Ulimit;
import com.github.dockerjava.api.model.Volume;
import io.mcpsandbox.host.CgroupReader;
import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.runtime.HostMounts;
import io.mcpsandbox.runtime.PreparedSandbox;
import io.mcpsandbox.runtime.PrivatePaths;
import io.mcpsandbox.runtime.RunningSandbox;
import io.mcpsandbox.runtime.SandboxException;
import io.mcpsandbox.runtime.SandboxExit;
import io.mcpsandbox.runtime.SandboxRlimits;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.UidRangeAllocator;
import io.mcpsandbox.runtime.WorkspaceTmpfs;
import io.mcpsandbox.runtime.WritableRoot;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Docker container running the agent: created by prepare (with its workspace), attached and started by start,
 * removed by close.
 */
final class DockerSandbox implements PreparedSandbox, RunningSandbox {
    private static final Logger log = LoggerFactory.getLogger(DockerSandbox.class);
    /** The sandbox user within its uid range (as on the OCI backend): the host uid is range base + this. */
    static final int SANDBOX_UID = 1000;
    /** A writable root's store and overlays, in the sandbox's directory (see {@link WritableRoot}). */
    static final String WRITABLE_ROOT_DIR = "rootfs-rw";

    private final DockerEngine engine;
    private final DockerRuntime.Kind kind;
    private final String name;
    private final Path sandboxDir;
    private final String containerId;
    private final Optional<String> cgroupParent;
    private final AtomicBoolean started = new AtomicBoolean();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final AttachedChannel channel = new AttachedChannel();
    private final UidRangeAllocator uids;
    private final long hostUidBase;
    private volatile Thread sampler;
    private volatile boolean pidsLimitHit;

    private DockerSandbox(DockerEngine engine, DockerRuntime.Kind kind, String name, Path sandboxDir,
                          String containerId, Optional<String> cgroupParent, UidRangeAllocator uids, long hostUidBase) {
        this.engine = engine;
        this.kind = kind;
        this.name = name;
        this.sandboxDir = sandboxDir;
        this.containerId = containerId;
        this.cgroupParent = cgroupParent;
        this.uids = uids;
        this.hostUidBase = hostUidBase;
    }

    static DockerSandbox create(DockerEngine engine, DockerRuntime.Kind kind, UidRangeAllocator uids, SandboxSpec spec)
            throws SandboxException {
        String name = spec.name();
        Path dir = engine.traces().sandboxDir(name);
        String id = null;
        Long uidBase = null;
        try {
            // Docker gives no user namespace: the program runs as a host uid of its own, from the same ranges the
            // OCI backend maps (checked against host users and subuid/subgid), so no host account and no other
            // sandbox shares its uid (signals, ptrace, per-uid kernel quotas such as inotify).
            uidBase = uids.acquire();
            long uid = uidBase + SANDBOX_UID;
            // Only root (the daemon, gVisor's gofer) needs the host paths: other host users must not read the
            // workspace, nor swap a file before Docker binds it, nor list sandboxes.
            PrivatePaths.directory(dir.getParent().getParent(), PrivatePaths.OWNER_ONLY_DIR);
            PrivatePaths.directory(dir.getParent(), PrivatePaths.OWNER_ONLY_DIR);
            PrivatePaths.directory(dir, PrivatePaths.OWNER_ONLY_DIR);
            engine.traces().writeOwner(dir); // before anything else exists: a reaper knows whose it is
            Path workspace = dir.resolve("workspace");
            // Filled on the host, so this needs the daemon on this host (a unix socket): a Docker tmpfs mount is
            // empty until the container starts, and copyArchiveToContainer into it would land under the mount.
            WorkspaceTmpfs.mount(workspace, spec.limits().tmpBytes(), spec.limits().tmpInodes(), uid,
                    spec.workspaceFiles());
            List<WritableRoot.Tree> writable = List.of();
            if (spec.writableRoot()) {
                // Not Docker's own writable layer: overlay2 can cap it (--storage-opt size) only over xfs with
                // project quotas. The same host overlays as on runc, capped by their tmpfs, bound read-write.
                writable = WritableRoot.mount(dir.resolve(WRITABLE_ROOT_DIR), spec.rootfs(), spec.writableRootBytes(),
                        spec.limits().tmpInodes(), uid).trees();
            }
            String image = engine.images().ensure(spec.rootfs().rootDir());
            Optional<String> cgroupParent = engine.cgroupParent(name);
            Map<String, String> labels = new LinkedHashMap<>();
            labels.put(DockerEngine.LABEL_EXECUTION, SandboxSpec.executionIdOf(name).orElse(name));
            labels.put(DockerEngine.LABEL_OWNER, engine.owner().label());
            labels.put(DockerEngine.LABEL_SANDBOX_DIR, dir.toString());
            CreateContainerResponse created = engine.connection().control().createContainerCmd(image)
                    .withName(name)
                    .withHostName("sandbox")
                    .withUser(uid + ":" + uid)
                    // The agent as PID 1; the programs get their argv, environment and directory from it.
                    .withEntrypoint(RootFilesystem.INIT_MOUNT_POINT)
                    .withCmd(List.of())
                    .withEnv(List.of())
                    .withWorkingDir("/")
                    .withLabels(labels)
                    // Never a network: a sandbox that asks for one reaches out only through its agent's relay
                    // to the host's policy point (docs/network.md).
                    .withNetworkDisabled(true)
                    // Its stdio are the channel (stdin, stdout) and its log (stderr), through an attach.
                    .withAttachStdout(true).withAttachStderr(true)
                    .withAttachStdin(true).withStdinOpen(true).withStdInOnce(true).withTty(false)
                    .withHostConfig(hostConfig(engine, kind, spec, workspace, writable, cgroupParent))
                    .exec();
            id = created.getId();
            return new DockerSandbox(engine, kind, name, dir, id, cgroupParent, uids, uidBase);
        } catch (IOException | RuntimeException e) {
            if (id != null) {
                removeQuietly(engine, id);
            }
            DockerHostTraces.removeSandboxDir(dir);
            engine.traces().removeCgroup(name);
            if (uidBase != null) {
                uids.release(uidBase);
            }
            throw new SandboxException("cannot prepare " + name + " for " + kind.runtimeName() + ": "
                    + DockerConnection.rootMessage(e), e);
        }
    }

    private static HostConfig hostConfig(DockerEngine engine, DockerRuntime.Kind kind, SandboxSpec spec, Path workspace,
                                         List<WritableRoot.Tree> writable, Optional<String> cgroupParent) {
        ResourceLimits limits = spec.limits();
        List<Bind> binds = new ArrayList<>();
        // This Docker API has no recursive read-only bind ("ro" leaves submounts writable under runc): every
        // submount of a source is bound read-only again at its place (the mount table is read once).
        List<RootFilesystem.HostBind> hostBinds = spec.rootfs().binds();
        List<List<String>> submounts = HostMounts.submountsUnder(
                hostBinds.stream().map(RootFilesystem.HostBind::source).toList());
        for (int i = 0; i < hostBinds.size(); i++) {
            RootFilesystem.HostBind b = hostBinds.get(i);
            if (writable.stream().anyMatch(t -> t.destination().equals(b.destination()))) {
                continue; // the writable overlay of that bind replaces it
            }
            binds.add(new Bind(b.source().toString(), new Volume(b.destination()), AccessMode.ro));
            for (String sub : submounts.get(i)) {
                binds.add(new Bind(b.source().resolve(sub).toString(),
                        new Volume(b.destination() + "/" + sub), AccessMode.ro));
            }
        }
        // Docker mounts parents before children: an overlay lands on the read-only bind holding it (/usr/local
        // on /usr), and host binds below one (/etc/ssl) land on it, still read-only.
        for (WritableRoot.Tree tree : writable) {
            binds.add(new Bind(tree.merged().toString(), new Volume(tree.destination()), AccessMode.rw));
        }
        binds.add(new Bind(workspace.toString(), new Volume(SandboxSpec.WORKSPACE), AccessMode.rw));
        binds.add(new Bind(engine.agent().toString(), new Volume(RootFilesystem.INIT_MOUNT_POINT), AccessMode.ro));

        // Inside gVisor the pids cgroup also counts the sentry's threads and stub processes: keep it high and
        // bound the user's processes with RLIMIT_NPROC, which the sentry counts per sandbox. Under runc the pids
        // cgroup bounds them.
        long pids = kind.gvisor() ? Math.max(1024, limits.pids() * 4L) : limits.pids();
        long fsize = limits.tmpBytes();
        List<Ulimit> ulimits = new ArrayList<>(List.of(
                new Ulimit("nofile", (long) limits.openFiles(), (long) limits.openFiles()),
                new Ulimit("fsize", fsize, fsize)));
        SandboxRlimits.FIXED.forEach((type, value) -> ulimits.add(new Ulimit(type, value, value)));
        if (kind.gvisor()) {
            ulimits.add(new Ulimit("nproc", (long) limits.pids(), (long) limits.pids()));
        }
        HostConfig hc = HostConfig.newHostConfig()
                .withBinds(binds)
                .withNetworkMode("none")
                .withCapDrop(Capability.ALL)
                .withSecurityOpts(List.of("no-new-privileges=true", "seccomp=" + engine.seccomp(kind.gvisor())))
                .withReadonlyRootfs(true)
                // Our own /dev/shm replaces Docker's (ShmSize cannot cap its inodes).
                .withTmpFs(tmpfsMounts(kind, limits))
                .withIpcMode("private")
                .withMemory(limits.memoryBytes())
                .withMemorySwap(limits.memoryBytes())
                .withNanoCPUs(Math.round(limits.cpus() * 1_000_000_000L))
                .withPidsLimit(pids)
                .withUlimits(ulimits)
                .withOomScoreAdj(1000)
                // Everything the sandbox says goes through the attach; nothing is kept in a Docker log.
                .withLogConfig(new LogConfig(LogConfig.LoggingType.NONE, null))
                .withInit(false)
                .withAutoRemove(false);
        cgroupParent.ifPresent(hc::withCgroupParent);
        if (kind.daemonRuntime() != null) {
            hc.withRuntime(kind.daemonRuntime());
        }
        return hc;
    }

    private static Map<String, String> tmpfsMounts(DockerRuntime.Kind kind, ResourceLimits limits) {
        Map<String, String> tmpfs = new LinkedHashMap<>();
        tmpfs.put("/tmp", "rw,nosuid,nodev,size=" + limits.tmpBytes() + ",nr_inodes=" + limits.tmpInodes()
                + ",mode=1777");
        tmpfs.put("/dev/shm", "rw,nosuid,nodev,noexec,size=" + limits.tmpBytes() + ",nr_inodes=" + limits.tmpInodes()
                + ",mode=1777");
        if (kind.gvisor()) {
            // gVisor's own /dev has fuse and net/tun, and it ignores masked paths: cover them (as on runsc).
            tmpfs.put("/dev/net", "rw,nosuid,nodev,noexec,size=4k,mode=755");
            tmpfs.put("/dev/fuse", "rw,nosuid,nodev,noexec,size=4k,mode=000");
        } else {
            // Docker's devpts has no max= and this API cannot set one: each sandbox could take up to
            // kernel.pty.max - kernel.pty.reserve host ptys. An empty tmpfs replaces it: no ptys on docker.
            tmpfs.put("/dev/pts", "rw,nosuid,nodev,noexec,size=4k,mode=755");
        }
        return tmpfs;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public RunningSandbox start() throws SandboxException {
        if (!started.compareAndSet(false, true)) {
            throw new IllegalStateException("sandbox " + name + " was already started");
        }
        try {
            // Attached before the start, so that not a byte of the agent's is lost.
            channel.attach(engine.connection().streams(), containerId, name);
            engine.connection().control().startContainerCmd(containerId).exec();
            startSampler();
            return this;
        } catch (RuntimeException e) {
            throw new SandboxException("cannot start " + name + " on " + kind.runtimeName() + ": "
                    + DockerConnection.rootMessage(e), e);
        }
    }

    /**
     * The container's own cgroup is deleted when it exits, and with it the pids limit's hit counter: sample it
     * while the program runs. CPU and peak memory are read at the end from our parent cgroup, which keeps the
     * hierarchical totals.
     */
    private void startSampler() {
        if (cgroupParent.isEmpty()) {
            return;
        }
        CgroupReader cgroups = engine.cgroups();
        String path = cgroupParent.get() + "/" + containerId;
        sampler = Thread.ofPlatform().daemon().name("pids-" + name).start(() -> {
            while (!closed.get() && !Thread.currentThread().isInterrupted()) {
                if (cgroups.read(path).pidsLimitHits() > 0) {
                    pidsLimitHit = true;
                    return;
                }
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
    }

    @Override
    public OutputStream toAgent() {
        return channel.toAgent();
    }

    @Override
    public InputStream fromAgent() {
        return channel.fromAgent();
    }

    @Override
    public InputStream agentLog() {
        return channel.log();
    }

    /**
     * CPU and peak memory from our cgroup parent (hierarchical totals that outlive the container); OOM kills and
     * pids-limit hits from the container's own cgroup while it exists (cgroup v1 counts them there only), or as
     * sampled before it went.
     */
    @Override
    public CgroupReader.Usage usage() {
        if (cgroupParent.isEmpty()) {
            return new CgroupReader.Usage(0, 0, 0, 0);
        }
        CgroupReader.Usage total = engine.cgroups().read(cgroupParent.get());
        CgroupReader.Usage own = engine.cgroups().read(cgroupParent.get() + "/" + containerId);
        long pids = Math.max(Math.max(total.pidsLimitHits(), own.pidsLimitHits()), pidsLimitHit ? 1 : 0);
        return new CgroupReader.Usage(total.cpuNanos(), total.peakMemoryBytes(),
                Math.max(total.oomKills(), own.oomKills()), pids);
    }

    @Override
    public SandboxExit awaitExit() throws InterruptedException {
        InspectContainerResponse.ContainerState state;
        try {
            engine.connection().streams().waitContainerCmd(containerId).exec(new WaitContainerResultCallback())
                    .awaitStatusCode();
            state = engine.connection().control().inspectContainerCmd(containerId).exec().getState();
        } catch (NotFoundException e) {
            return SandboxExit.failed(kind.runtimeName() + ": the container " + name + " is gone");
        } catch (RuntimeException e) {
            if (Thread.currentThread().isInterrupted()) {
                throw new InterruptedException();
            }
            return SandboxExit.failed(kind.runtimeName() + ": waiting for " + name + " failed: "
                    + DockerConnection.rootMessage(e));
        } finally {
            Thread s = sampler;
            if (s != null) {
                s.interrupt();
            }
        }
        String error = state.getError();
        Long code = state.getExitCodeLong();
        if (error != null && !error.isBlank() && (code == null || code == 0 || code >= 126 && code <= 128)) {
            return SandboxExit.failed(kind.runtimeName() + ": " + error);
        }
        CgroupReader.Usage usage = usage();
        boolean oom = Boolean.TRUE.equals(state.getOOMKilled()) || usage.oomKills() > 0;
        return new SandboxExit(code == null ? null : code.intValue(), usage.cpuNanos() / 1_000_000,
                usage.peakMemoryBytes(), oom, usage.pidsLimitHits() > 0, null);
    }

    @Override
    public void kill() {
        try {
            engine.connection().control().killContainerCmd(containerId).withSignal("KILL").exec();
        } catch (RuntimeException e) {
            log.debug("kill {}: {}", name, DockerConnection.rootMessage(e)); // not running (yet, or any more)
        }
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        removeQuietly(engine, containerId);
        Thread s = sampler;
        if (s != null) {
            s.interrupt();
        }
        if (kind.gvisor()) {
            DockerHostTraces.killStrays(containerId); // a stray sentry would keep the workspace mounted
        }
        channel.close();
        DockerHostTraces.removeSandboxDir(sandboxDir);
        engine.traces().removeCgroup(name);
        uids.release(hostUidBase); // the container and every process of it are gone
    }

    private static void removeQuietly(DockerEngine engine, String id) {
        try {
            engine.connection().control().removeContainerCmd(id).withForce(true).withRemoveVolumes(true).exec();
        } catch (NotFoundException gone) {
            // already removed
        } catch (RuntimeException e) {
            log.warn("cannot remove container {}: {}", id, DockerConnection.rootMessage(e));
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // closing
        }
    }
}
