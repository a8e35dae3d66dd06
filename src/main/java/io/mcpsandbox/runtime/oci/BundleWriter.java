package io.mcpsandbox.runtime.oci;

import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.runtime.PrivatePaths;
import io.mcpsandbox.runtime.SandboxCgroup;
import io.mcpsandbox.runtime.SandboxRlimits;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.SeccompProfile;
import io.mcpsandbox.runtime.UidRangeAllocator;
import io.mcpsandbox.runtime.WritableRoot;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.json.JsonMapper;

/**
 * Writes an OCI bundle's config.json carrying the security baseline of DESIGN.md: every namespace
 * (user included), a non-root user with no capabilities and noNewPrivileges, a read-only root, capped
 * tmpfs mounts, masked /proc paths, seccomp, cgroup limits and rlimits.
 */
public final class BundleWriter {
    /** The uid and gid the program runs as inside the sandbox. */
    public static final int SANDBOX_UID = 1000;
    public static final String CGROUP_PARENT = SandboxCgroup.PARENT;

    private static final List<String> MASKED_PATHS = List.of(
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
            "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
            "/sys/kernel/debug", "/sys/kernel/security");
    private static final List<String> READONLY_PATHS = List.of(
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger");

    /** Host ptys a runc sandbox may hold (devpts {@code max=}); gVisor's ptys live in its sentry. */
    public static final int MAX_PTYS = 64;
    /** inotify instances and watches per runc sandbox, set in its user namespace before the program starts. */
    public static final int MAX_INOTIFY_INSTANCES = 8;
    public static final int MAX_INOTIFY_WATCHES = 8192;

    static final String NSENTER = "/usr/bin/nsenter";

    private final JsonMapper json;
    private final SeccompProfile seccomp;
    private final Path agent;
    private final HostLsm lsm;

    /**
     * @param agent the in-sandbox agent (a static binary) bound read-only into every sandbox as its PID 1
     * @param lsm  the AppArmor profile or SELinux label the host enforces, if any
     */
    public BundleWriter(JsonMapper json, SeccompProfile seccomp, Path agent, HostLsm lsm) {
        this.json = json;
        this.seccomp = seccomp;
        this.agent = agent;
        this.lsm = lsm;
    }

    public Path agent() {
        return agent;
    }

    /**
     * The cgroup pids limit. Inside gVisor it also counts the sentry's threads and stub processes, so it
     * stays high there and RLIMIT_NPROC bounds the user's own processes.
     */
    static long pidsLimit(OciFlavor flavor, ResourceLimits limits) {
        return flavor.isUserSpaceKernel() ? Math.max(1024, limits.pids() * 4L) : limits.pids();
    }

    public static String cgroupPath(String sandboxName) {
        return SandboxCgroup.pathFor(sandboxName);
    }

    /**
     * @param workspaceSource host directory (a size-capped tmpfs) bound read-write at /workspace
     * @param hostUidBase     first host uid of this sandbox's user-namespace range
     */
    public void write(Path bundleDir, SandboxSpec spec, OciFlavor flavor, Path workspaceSource, long hostUidBase)
            throws IOException {
        write(bundleDir, spec, flavor, workspaceSource, hostUidBase, List.of());
    }

    /** As above, with a writable root's overlays bound read-write over the read-only root. */
    public void write(Path bundleDir, SandboxSpec spec, OciFlavor flavor, Path workspaceSource, long hostUidBase,
                      List<WritableRoot.Tree> writable) throws IOException {
        Files.createDirectories(bundleDir);
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("ociVersion", "1.0.2");
        config.put("process", process(spec, flavor, lsm));
        config.put("root", Map.of("path", spec.rootfs().rootDir().toString(), "readonly", true));
        config.put("hostname", "sandbox");
        config.put("mounts", mounts(spec.rootfs(), writable, spec.limits(), workspaceSource, agent,
                flavor));
        config.put("linux", linux(spec, flavor, hostUidBase));
        if (flavor == OciFlavor.RUNC) {
            config.put("hooks", Map.of("createContainer", List.of(inotifyLimitHookInside())));
        } else if (needsNsenterHook(flavor)) {
            config.put("hooks", Map.of("createRuntime", List.of(inotifyLimitHook())));
        }
        // Root only (runc and runsc read it as root): it maps this sandbox's uids and names its paths.
        try (java.io.OutputStream out = PrivatePaths.newFile(bundleDir.resolve("config.json"))) {
            json.writerWithDefaultPrettyPrinter().writeValue(out, config);
        }
    }

    /** runc and crun run the program on the host kernel, in a user namespace this bundle asks for. */
    static boolean sharesHostKernel(OciFlavor flavor) {
        return flavor == OciFlavor.RUNC || flavor == OciFlavor.CRUN;
    }

    /**
     * Whether the bundle sets the inotify limits with {@link #inotifyLimitHook()} (nsenter from the host):
     * crun, whose order of createContainer hooks and dropping privileges this project has not verified. runc
     * uses the cheaper {@link #inotifyLimitHookInside()}.
     */
    static boolean needsNsenterHook(OciFlavor flavor) {
        return flavor == OciFlavor.CRUN;
    }

    /**
     * {@link #inotifyLimitHook()}'s limits for runc, from one program instead of three (a shell reading the
     * pid, nsenter, a shell): runc runs createContainer hooks from the container's init process, already in
     * the sandbox's namespaces (its user namespace included) as that namespace's root with all its
     * capabilities, before pivot_root and long before it becomes the sandbox user and applies seccomp. The
     * user.* sysctls written are those of the writer's user namespace, whichever /proc it writes through. A
     * failure fails the start (fail closed).
     */
    static Map<String, Object> inotifyLimitHookInside() {
        Map<String, Object> hook = new LinkedHashMap<>();
        hook.put("path", "/bin/sh");
        hook.put("args", List.of("sh", "-c", "echo " + MAX_INOTIFY_INSTANCES
                + " > /proc/sys/user/max_inotify_instances && echo " + MAX_INOTIFY_WATCHES
                + " > /proc/sys/user/max_inotify_watches"));
        hook.put("timeout", 10);
        return hook;
    }

    /**
     * The kernel charges a user namespace's inotify use to its owner in the parent namespace too (host root
     * for every runc sandbox), and a new namespace starts with no limit of its own: one sandbox could take
     * all of root's fs.inotify.max_user_instances. This hook runs after the namespaces exist and before the
     * program starts, enters the sandbox's user namespace (as its root, which may write its user.* sysctls)
     * and sets them. It reads the container's pid from the state runc passes on stdin; a failure fails the
     * start (fail closed).
     */
    static Map<String, Object> inotifyLimitHook() {
        String script = "read -r state; pid=${state#*\\\"pid\\\":}; pid=${pid%%[!0-9]*}; "
                + "[ -n \"$pid\" ] || exit 1; "
                + "exec " + NSENTER + " --target \"$pid\" --user -- /bin/sh -c "
                + "'echo " + MAX_INOTIFY_INSTANCES + " > /proc/sys/user/max_inotify_instances "
                + "&& echo " + MAX_INOTIFY_WATCHES + " > /proc/sys/user/max_inotify_watches'";
        Map<String, Object> hook = new LinkedHashMap<>();
        hook.put("path", "/bin/sh");
        hook.put("args", List.of("sh", "-c", script));
        hook.put("timeout", 10);
        return hook;
    }

    private static Map<String, Object> process(SandboxSpec spec, OciFlavor flavor, HostLsm lsm) {
        ResourceLimits limits = spec.limits();
        List<String> none = List.of();
        Map<String, Object> caps = new LinkedHashMap<>();
        for (String set : List.of("bounding", "effective", "inheritable", "permitted", "ambient")) {
            caps.put(set, none);
        }
        // Inside gVisor the host pids limit stays high (it also counts the sentry's threads), so the
        // user's own process count is bounded here instead.
        List<Map<String, Object>> rlimits = new ArrayList<>(List.of(
                rlimit("RLIMIT_NOFILE", limits.openFiles()),
                rlimit("RLIMIT_FSIZE", limits.tmpBytes()),
                rlimit("RLIMIT_NPROC", limits.pids())));
        // Every other limit that guards something shared is set, not inherited from the server.
        SandboxRlimits.FIXED.forEach((type, value) ->
                rlimits.add(rlimit("RLIMIT_" + type.toUpperCase(java.util.Locale.ROOT), value)));
        Map<String, Object> process = new LinkedHashMap<>();
        process.put("terminal", false);
        process.put("user", Map.of("uid", SANDBOX_UID, "gid", SANDBOX_UID));
        // The agent as PID 1 (it reaps orphans and forwards signals); it starts the programs with their own
        // argv, environment and working directory, and needs nothing of its own.
        process.put("args", List.of(RootFilesystem.INIT_MOUNT_POINT));
        process.put("env", List.of());
        process.put("cwd", "/");
        process.put("capabilities", caps);
        process.put("rlimits", rlimits);
        process.put("noNewPrivileges", true);
        // The host kills a sandbox before anything else when memory runs short.
        process.put("oomScoreAdj", 1000);
        // gVisor applies neither (its sentry is confined by its own seccomp filters).
        if (lsm.appArmor() && !flavor.isUserSpaceKernel()) {
            process.put("apparmorProfile", lsm.appArmorProfile());
        }
        if (lsm.selinuxEnforcing() && !flavor.isUserSpaceKernel()) {
            process.put("selinuxLabel", lsm.selinuxLabel());
        }
        return process;
    }

    private static Map<String, Object> rlimit(String type, long value) {
        return Map.of("type", type, "hard", value, "soft", value);
    }

    private static List<Map<String, Object>> mounts(RootFilesystem rootfs, List<WritableRoot.Tree> writable,
                                                    ResourceLimits limits, Path workspace, Path agent,
                                                    OciFlavor flavor) {
        String tmpSize = "size=" + limits.tmpBytes();
        String tmpInodes = "nr_inodes=" + limits.tmpInodes();
        List<Map<String, Object>> mounts = new ArrayList<>();
        mounts.add(mount("/proc", "proc", "proc", List.of("nosuid", "noexec", "nodev")));
        mounts.add(mount("/dev", "tmpfs", "tmpfs", List.of("nosuid", "strictatime", "mode=755", "size=65536k")));
        mounts.add(mount("/dev/pts", "devpts", "devpts",
                List.of("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "max=" + MAX_PTYS)));
        if (flavor.isUserSpaceKernel()) {
            // gVisor always mounts its own /dev, with fuse and net/tun in it, and ignores maskedPaths: an empty
            // /dev/net and an inaccessible directory over /dev/fuse close them.
            mounts.add(mount("/dev/net", "tmpfs", "tmpfs",
                    List.of("nosuid", "noexec", "nodev", "mode=755", "size=4k")));
            mounts.add(mount("/dev/fuse", "tmpfs", "tmpfs",
                    List.of("nosuid", "noexec", "nodev", "mode=000", "size=4k")));
        }
        mounts.add(mount("/dev/shm", "tmpfs", "shm",
                List.of("nosuid", "noexec", "nodev", "mode=1777", tmpSize, tmpInodes)));
        mounts.add(mount("/dev/mqueue", "mqueue", "mqueue", List.of("nosuid", "noexec", "nodev")));
        mounts.add(mount("/sys", "sysfs", "sysfs", List.of("nosuid", "noexec", "nodev", "ro")));
        mounts.add(mount("/sys/fs/cgroup", "cgroup", "cgroup", List.of("nosuid", "noexec", "nodev", "relatime", "ro")));
        mounts.add(mount(SandboxSpec.TMP, "tmpfs", "tmpfs",
                List.of("nosuid", "nodev", "mode=1777", tmpSize, tmpInodes)));
        mounts.add(mount(SandboxSpec.WORKSPACE, "bind", workspace.toString(),
                List.of("rbind", "rw", "nosuid", "nodev")));
        mounts.add(mount(RootFilesystem.INIT_MOUNT_POINT, "bind", agent.toString(),
                List.of("bind", "ro", "nosuid", "nodev")));
        // Recursively read-only: with plain "ro" runc leaves submounts of a bound directory writable. runc
        // (>= 1.1, kernel >= 5.12) and crun know "rro"; gVisor rejects it and its "ro" already covers submounts.
        String readOnly = sharesHostKernel(flavor) ? "rro" : "ro";
        List<Map<String, Object>> root = new ArrayList<>();
        for (RootFilesystem.HostBind bind : rootfs.binds()) {
            if (writable.stream().noneMatch(t -> t.destination().equals(bind.destination()))) {
                root.add(mount(bind.destination(), "bind", bind.source().toString(),
                        List.of("rbind", readOnly, "nosuid", "nodev")));
            }
        }
        // A writable tree's overlay (no submounts of its own) goes over the read-only bind that holds it (/usr
        // under /usr/local) and under the host binds below it (/etc/ssl over /etc): parents first.
        for (WritableRoot.Tree tree : writable) {
            root.add(mount(tree.destination(), "bind", tree.merged().toString(),
                    List.of("bind", "rw", "nosuid", "nodev")));
        }
        root.sort(Comparator.comparingLong(m -> ((String) m.get("destination")).chars().filter(c -> c == '/')
                .count()));
        mounts.addAll(root);
        return mounts;
    }

    private static Map<String, Object> mount(String destination, String type, String source, List<String> options) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("destination", destination);
        m.put("type", type);
        m.put("source", source);
        m.put("options", options);
        return m;
    }

    private Map<String, Object> linux(SandboxSpec spec, OciFlavor flavor, long hostUidBase) {
        ResourceLimits limits = spec.limits();
        List<Map<String, Object>> namespaces = new ArrayList<>();
        for (String ns : List.of("pid", "network", "ipc", "uts", "mount", "cgroup", "user")) {
            namespaces.add(Map.of("type", ns));
        }
        List<Map<String, Object>> idMap = List.of(
                Map.of("containerID", 0, "hostID", hostUidBase, "size", UidRangeAllocator.RANGE));

        long pids = pidsLimit(flavor, limits);
        long period = 100_000;
        Map<String, Object> resources = new LinkedHashMap<>();
        resources.put("devices", List.of(Map.of("allow", false, "access", "rwm")));
        // swap == limit: no swap beyond the memory limit.
        resources.put("memory", Map.of("limit", limits.memoryBytes(), "swap", limits.memoryBytes()));
        resources.put("pids", Map.of("limit", pids));
        resources.put("cpu", Map.of("quota", Math.round(limits.cpus() * period), "period", period));

        Map<String, Object> linux = new LinkedHashMap<>();
        linux.put("namespaces", namespaces);
        linux.put("uidMappings", idMap);
        linux.put("gidMappings", idMap);
        linux.put("resources", resources);
        linux.put("cgroupsPath", cgroupPath(spec.name()));
        linux.put("maskedPaths", MASKED_PATHS);
        linux.put("readonlyPaths", READONLY_PATHS);
        linux.put("seccomp", seccomp.forKernel(flavor.isUserSpaceKernel()));
        return linux;
    }
}
