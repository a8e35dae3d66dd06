package io.mcpsandbox.runtime;

import io.mcpsandbox.host.CgroupReader;
import io.mcpsandbox.model.ResourceLimits;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A cgroup that mcp-sandbox creates, limits, reads and removes itself, for runtimes that would otherwise
 * delete their cgroup (and with it the usage figures) the moment the program ends: runsc's foreground
 * {@code run}. The runtime process joins it before exec, so the sandbox and everything it starts live in it.
 * Works on cgroup v1 (one directory per controller) and v2 (one unified directory).
 */
public final class SandboxCgroup {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(SandboxCgroup.class);
    /** The cgroup under which every backend puts its sandboxes, one child each, named as the sandbox. */
    public static final String PARENT = "/mcp-sandbox";
    private static final List<String> V1_CONTROLLERS = List.of("memory", "cpu", "cpuacct", "pids");

    private final CgroupReader reader;
    private final String path;

    private SandboxCgroup(CgroupReader reader, String path) {
        this.reader = reader;
        this.path = path;
    }

    /** The cgroup path of the sandbox of this name. */
    public static String pathFor(String sandboxName) {
        return PARENT + "/" + sandboxName;
    }

    /** A handle on a cgroup that may exist already (a leftover to remove). */
    public static SandboxCgroup existing(CgroupReader reader, String path) {
        return new SandboxCgroup(reader, path);
    }

    public static SandboxCgroup create(CgroupReader reader, String path, ResourceLimits limits, long pids)
            throws IOException {
        SandboxCgroup cgroup = new SandboxCgroup(reader, path);
        try {
            cgroup.configure(limits, pids);
        } catch (IOException e) {
            cgroup.remove();
            throw new IOException("cannot set up cgroup " + path + ": " + e.getMessage(), e);
        }
        return cgroup;
    }

    private void configure(ResourceLimits limits, long pids) throws IOException {
        long quota = Math.round(limits.cpus() * 100_000);
        if (reader.unified()) {
            Path dir = dir(null);
            Files.createDirectories(dir);
            write(dir.resolve("memory.max"), limits.memoryBytes());
            writeIfExists(dir.resolve("memory.swap.max"), 0);
            write(dir.resolve("pids.max"), pids);
            Files.writeString(dir.resolve("cpu.max"), quota + " 100000");
            return;
        }
        for (String controller : V1_CONTROLLERS) {
            Files.createDirectories(dir(controller));
        }
        Path memory = dir("memory");
        write(memory.resolve("memory.limit_in_bytes"), limits.memoryBytes());
        // memory+swap == memory: no swap beyond the limit (the file exists only with swap accounting).
        writeIfExists(memory.resolve("memory.memsw.limit_in_bytes"), limits.memoryBytes());
        write(dir("pids").resolve("pids.max"), pids);
        write(dir("cpu").resolve("cpu.cfs_period_us"), 100_000);
        write(dir("cpu").resolve("cpu.cfs_quota_us"), quota);
    }

    /** The files a process writes its pid to in order to join this cgroup. */
    public List<Path> procsFiles() {
        if (reader.unified()) {
            return List.of(dir(null).resolve("cgroup.procs"));
        }
        List<Path> files = new ArrayList<>();
        for (String controller : V1_CONTROLLERS) {
            files.add(dir(controller).resolve("cgroup.procs"));
        }
        return files;
    }

    public CgroupReader.Usage usage() {
        return reader.read(path);
    }

    /**
     * Removes the cgroup directories. A runtime's helper processes may still be exiting; whatever is still
     * inside is killed, and removal is retried for a few seconds. Never throws.
     */
    public void remove() {
        for (int attempt = 0; attempt < 50; attempt++) {
            boolean removed = true;
            for (Path dir : reader.directories(path)) {
                try {
                    Files.deleteIfExists(dir);
                } catch (IOException busy) {
                    removed = false;
                    killMembers(dir);
                }
            }
            if (removed) {
                return;
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        log.warn("cgroup {} could not be removed", path);
    }

    private static void killMembers(Path dir) {
        try {
            for (String pid : Files.readAllLines(dir.resolve("cgroup.procs"))) {
                ProcessHandle.of(Long.parseLong(pid.trim())).ifPresent(ProcessHandle::destroyForcibly);
            }
        } catch (IOException | NumberFormatException ignored) {
            // gone meanwhile
        }
    }

    private Path dir(String controller) {
        return reader.directories(path).stream()
                .filter(d -> controller == null || d.toString().contains("/" + controller + "/"))
                .findFirst().orElseThrow();
    }

    private static void write(Path file, long value) throws IOException {
        Files.writeString(file, Long.toString(value));
    }

    private static void writeIfExists(Path file, long value) throws IOException {
        if (Files.exists(file)) {
            write(file, value);
        }
    }
}
