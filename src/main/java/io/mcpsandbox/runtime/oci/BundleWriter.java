package io.mcpsandbox.runtime.oci;

import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.runtime.PrivatePaths;
import io.mcpsandbox.runtime.SandboxSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
    public static final String CGROUP_PARENT = "/mcp-sandbox";

    private static final List<String> MASKED_PATHS = List.of(
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
            "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
            "/sys/kernel/debug", "/sys/kernel/security");
    private static final List<String> READONLY_PATHS = List.of(
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger");

    private final JsonMapper json;
    private final SeccompProfile seccomp;
    private final Path init;
    private final HostLsm lsm;

    /**
     * @param init a static init binary (tini-static) bound into every sandbox as its PID 1
     * @param lsm  the AppArmor profile or SELinux label the host enforces, if any
     */
    public BundleWriter(JsonMapper json, SeccompProfile seccomp, Path init, HostLsm lsm) {
        this.json = json;
        this.seccomp = seccomp;
        this.init = init;
        this.lsm = lsm;
    }

    public Path init() {
        return init;
    }

    /**
     * The cgroup pids limit. Inside gVisor it also counts the sentry's threads and stub processes, so it
     * stays high there and RLIMIT_NPROC bounds the user's own processes.
     */
    static long pidsLimit(OciFlavor flavor, ResourceLimits limits) {
        return flavor.isUserSpaceKernel() ? Math.max(1024, limits.pids() * 4L) : limits.pids();
    }

    public static String cgroupPath(String sandboxName) {
        return CGROUP_PARENT + "/" + sandboxName;
    }

    /**
     * @param workspaceSource host directory (a size-capped tmpfs) bound read-write at /workspace
     * @param hostUidBase     first host uid of this sandbox's user-namespace range
     */
    public void write(Path bundleDir, SandboxSpec spec, OciFlavor flavor, Path workspaceSource, long hostUidBase)
            throws IOException {
        Files.createDirectories(bundleDir);
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("ociVersion", "1.0.2");
        config.put("process", process(spec, flavor, lsm));
        config.put("root", Map.of("path", spec.rootfs().rootDir().toString(), "readonly", true));
        config.put("hostname", "sandbox");
        config.put("mounts", mounts(spec.rootfs(), spec.limits(), workspaceSource, init));
        config.put("linux", linux(spec, flavor, hostUidBase));
        // It carries the request's argv and environment: root only (runc and runsc read it as root).
        try (java.io.OutputStream out = PrivatePaths.newFile(bundleDir.resolve("config.json"))) {
            json.writerWithDefaultPrettyPrinter().writeValue(out, config);
        }
    }

    private static Map<String, Object> process(SandboxSpec spec, OciFlavor flavor, HostLsm lsm) {
        ResourceLimits limits = spec.limits();
        List<String> env = new ArrayList<>();
        spec.env().forEach((k, v) -> env.add(k + "=" + v));
        List<String> none = List.of();
        Map<String, Object> caps = new LinkedHashMap<>();
        for (String set : List.of("bounding", "effective", "inheritable", "permitted", "ambient")) {
            caps.put(set, none);
        }
        // Inside gVisor the host pids limit stays high (it also counts the sentry's threads), so the
        // user's own process count is bounded here instead.
        List<Map<String, Object>> rlimits = List.of(
                rlimit("RLIMIT_NOFILE", limits.openFiles()),
                rlimit("RLIMIT_FSIZE", limits.tmpBytes()),
                rlimit("RLIMIT_NPROC", limits.pids()),
                rlimit("RLIMIT_CORE", 0));
        Map<String, Object> process = new LinkedHashMap<>();
        process.put("terminal", false);
        process.put("user", Map.of("uid", SANDBOX_UID, "gid", SANDBOX_UID));
        // tini as PID 1: the kernel drops unhandled signals sent to a namespace's init, and orphans
        // need a reaper. It exits with the program's status, 128+N when the program died of signal N.
        List<String> args = new ArrayList<>(List.of(RootFilesystem.INIT_MOUNT_POINT, "-g", "--"));
        args.addAll(spec.args());
        process.put("args", args);
        process.put("env", env);
        process.put("cwd", spec.workDir());
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

    private static List<Map<String, Object>> mounts(RootFilesystem rootfs, ResourceLimits limits, Path workspace,
                                                    Path init) {
        String tmpSize = "size=" + limits.tmpBytes();
        String tmpInodes = "nr_inodes=" + limits.tmpInodes();
        List<Map<String, Object>> mounts = new ArrayList<>();
        mounts.add(mount("/proc", "proc", "proc", List.of("nosuid", "noexec", "nodev")));
        mounts.add(mount("/dev", "tmpfs", "tmpfs", List.of("nosuid", "strictatime", "mode=755", "size=65536k")));
        mounts.add(mount("/dev/pts", "devpts", "devpts",
                List.of("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620")));
        mounts.add(mount("/dev/shm", "tmpfs", "shm", List.of("nosuid", "noexec", "nodev", "mode=1777", tmpSize, tmpInodes)));
        mounts.add(mount("/dev/mqueue", "mqueue", "mqueue", List.of("nosuid", "noexec", "nodev")));
        mounts.add(mount("/sys", "sysfs", "sysfs", List.of("nosuid", "noexec", "nodev", "ro")));
        mounts.add(mount("/sys/fs/cgroup", "cgroup", "cgroup", List.of("nosuid", "noexec", "nodev", "relatime", "ro")));
        mounts.add(mount("/tmp", "tmpfs", "tmpfs", List.of("nosuid", "nodev", "mode=1777", tmpSize, tmpInodes)));
        mounts.add(mount(SandboxSpec.WORKSPACE, "bind", workspace.toString(),
                List.of("rbind", "rw", "nosuid", "nodev")));
        mounts.add(mount(RootFilesystem.INIT_MOUNT_POINT, "bind", init.toString(), List.of("bind", "ro", "nosuid", "nodev")));
        for (RootFilesystem.HostBind bind : rootfs.binds()) {
            mounts.add(mount(bind.destination(), "bind", bind.source().toString(),
                    List.of("rbind", "ro", "nosuid", "nodev")));
        }
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
        linux.put("seccomp", seccomp.forFlavor(flavor));
        return linux;
    }
}
