package io.mcpsandbox.host;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Reads a sandbox's usage straight from its cgroup while the cgroup still exists (after the program
 * ended, before the container is deleted). Handles cgroup v1 (per-controller trees) and v2 (unified).
 */
public final class CgroupReader {
    /** The usage figures of one cgroup. Missing files read as zero. */
    public record Usage(long cpuNanos, long peakMemoryBytes, long oomKills, long pidsLimitHits) {
    }

    private final Path root;
    private final boolean unified;

    public CgroupReader(Path root) {
        this.root = root;
        this.unified = Files.exists(root.resolve("cgroup.controllers"));
    }

    public static CgroupReader host() {
        return new CgroupReader(Path.of("/sys/fs/cgroup"));
    }

    public boolean unified() {
        return unified;
    }

    /** @param cgroupPath the OCI {@code linux.cgroupsPath}, e.g. {@code /mcp-sandbox/mcp-exec-<id>} */
    public Usage read(String cgroupPath) {
        String rel = cgroupPath.startsWith("/") ? cgroupPath.substring(1) : cgroupPath;
        if (unified) {
            Path dir = root.resolve(rel);
            return new Usage(
                    keyed(dir.resolve("cpu.stat"), "usage_usec") * 1000,
                    number(dir.resolve("memory.peak")),
                    keyed(dir.resolve("memory.events"), "oom_kill"),
                    keyed(dir.resolve("pids.events"), "max"));
        }
        return new Usage(
                number(root.resolve("cpuacct").resolve(rel).resolve("cpuacct.usage")),
                number(root.resolve("memory").resolve(rel).resolve("memory.max_usage_in_bytes")),
                keyed(root.resolve("memory").resolve(rel).resolve("memory.oom_control"), "oom_kill"),
                keyed(root.resolve("pids").resolve(rel).resolve("pids.events"), "max"));
    }

    /** Every directory that a cgroup path occupies on this host (used to prove nothing is left behind). */
    public List<Path> directories(String cgroupPath) {
        String rel = cgroupPath.startsWith("/") ? cgroupPath.substring(1) : cgroupPath;
        if (unified) {
            return List.of(root.resolve(rel));
        }
        return List.of("cpu", "cpuacct", "memory", "pids", "devices", "freezer", "blkio", "cpuset", "systemd",
                        "unified", "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc").stream()
                .map(controller -> root.resolve(controller).resolve(rel))
                .toList();
    }

    private static long number(Path file) {
        try {
            return Long.parseLong(Files.readString(file).trim());
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
    }

    /** Reads "key value" lines (cpu.stat, memory.events, memory.oom_control, pids.events). */
    private static long keyed(Path file, String key) {
        try {
            for (String line : Files.readAllLines(file)) {
                String[] parts = line.trim().split("\\s+");
                if (parts.length == 2 && parts[0].equals(key)) {
                    return Long.parseLong(parts[1]);
                }
            }
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
        return 0;
    }
}
