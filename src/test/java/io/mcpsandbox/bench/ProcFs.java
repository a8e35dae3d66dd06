package io.mcpsandbox.bench;

import io.mcpsandbox.runtime.oci.BundleWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** What the benchmarks read from /proc and the cgroup tree about processes and sandboxes (shared by them). */
final class ProcFs {
    static final boolean UNIFIED = Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers"));

    private ProcFs() {
    }

    /** Pss and Rss of a process, KiB (zeros when it is gone). */
    static long[] smaps(long pid) {
        return new long[] {keyed(Path.of("/proc", Long.toString(pid), "smaps_rollup"), "Pss:"),
                keyed(Path.of("/proc", Long.toString(pid), "smaps_rollup"), "Rss:")};
    }

    /** VmRSS of a process, KiB (0 when it is gone, or for a kernel thread). */
    static long vmRssKb(long pid) {
        return keyed(Path.of("/proc", Long.toString(pid), "status"), "VmRSS:");
    }

    /** The number after {@code key} on its line ("key value [kB]"), 0 when missing. */
    static long keyed(Path file, String key) {
        try (Stream<String> lines = Files.lines(file)) {
            return lines.map(l -> l.trim().split("\\s+")).filter(f -> f.length >= 2 && f[0].equals(key))
                    .mapToLong(f -> Long.parseLong(f[1])).findFirst().orElse(0);
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** Field 22 of /proc/PID/stat, or null when there is no such process. */
    static String startTimeOf(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            return stat.substring(stat.lastIndexOf(')') + 2).split(" ")[19];
        } catch (IOException | RuntimeException gone) {
            return null;
        }
    }

    /** A sandbox's memory cgroup directory (v2: its only one). */
    static Path memoryCgroup(String sandboxName) {
        String rel = BundleWriter.cgroupPath(sandboxName).substring(1);
        return UNIFIED ? Path.of("/sys/fs/cgroup").resolve(rel) : Path.of("/sys/fs/cgroup/memory").resolve(rel);
    }

    /** The processes in a cgroup directory (none when it is gone). */
    static List<Long> pidsIn(Path cgroupDir) throws IOException {
        Path procs = cgroupDir.resolve("cgroup.procs");
        if (!Files.isReadable(procs)) {
            return List.of();
        }
        return Files.readAllLines(procs).stream().filter(l -> !l.isBlank()).map(l -> Long.parseLong(l.trim()))
                .toList();
    }

    /** Host processes (not this one) whose command line contains {@code text}. */
    static List<Long> processesNaming(String text) throws IOException {
        List<Long> pids = new ArrayList<>();
        long self = ProcessHandle.current().pid();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    String cmdline = new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8);
                    long pid = Long.parseLong(p.getFileName().toString());
                    if (cmdline.contains(text) && pid != self) {
                        pids.add(pid);
                    }
                } catch (IOException vanished) {
                    // it ended while we looked
                }
            }
        }
        return pids;
    }
}
