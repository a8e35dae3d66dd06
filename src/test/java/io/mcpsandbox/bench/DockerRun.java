package io.mcpsandbox.bench;

import io.mcpsandbox.host.HostCommand;
import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.runtime.SandboxSpec;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * The {@code docker run --rm} yardstick of the benchmarks (LatencyBenchmark, FastPathBenchmark): the closest
 * equivalent flags to ours, on an image imported from the very skeleton root our host image uses, with the same
 * read-only host binds. The program is the container's PID 1, no init: as the raw yardsticks (the agent would
 * sit waiting for the frames of a host). Containers are named {@code <prefix>...}; the image is removed at the
 * end if this run imported it.
 */
final class DockerRun {
    static final String IMAGE = "mcp-bench-host:latest";
    private static final Duration CMD_TIMEOUT = Duration.ofSeconds(60);

    private final String prefix;
    private String whyNot = "disabled";
    private boolean up;
    private boolean imageCreated;

    /** @param prefix the start of every container name this run uses (unique to the run) */
    DockerRun(String prefix) {
        this.prefix = prefix;
    }

    /** Whether a daemon answers; if it does, the image is made ready (imported when missing). */
    boolean start(RootFilesystem rootfs) throws IOException {
        up = answers();
        if (up) {
            prepareImage(rootfs);
        }
        return up;
    }

    boolean up() {
        return up;
    }

    /** Why docker is not measured ("" when it is). */
    String whyNot() {
        return up ? "" : whyNot;
    }

    private boolean answers() {
        try {
            HostCommand.Result r = HostCommand.run(List.of("docker", "info", "--format", "{{.ServerVersion}}"),
                    Duration.ofSeconds(15));
            if (!r.ok()) {
                whyNot = "no daemon answers: " + r.message().lines().findFirst().orElse("");
            }
            return r.ok();
        } catch (IOException e) {
            whyNot = "docker CLI unusable: " + e.getMessage();
            return false;
        }
    }

    /** Imports the host image's skeleton root (mount points, symlinks, generated /etc) as a docker image. */
    private void prepareImage(RootFilesystem rootfs) throws IOException {
        if (HostCommand.run(List.of("docker", "image", "inspect", IMAGE), CMD_TIMEOUT).ok()) {
            return; // someone's (maybe an earlier aborted run's): used, and left in place
        }
        HostCommand.check(List.of("sh", "-c", "tar -C \"$1\" -c . | docker import - \"$2\"", "sh",
                rootfs.rootDir().toString(), IMAGE), CMD_TIMEOUT);
        imageCreated = true;
        System.out.println("docker: imported " + IMAGE + " from " + rootfs.rootDir() + " (removed at the end)");
    }

    /** The {@code docker run --rm} command line of container {@code <prefix><suffix>} running {@code program}. */
    List<String> argv(String suffix, RootFilesystem rootfs, ResourceLimits limits, List<String> program) {
        List<String> argv = new ArrayList<>(List.of("docker", "run", "--rm", "--name", prefix + suffix,
                "--network", "none", "--read-only", "--user", "1000:1000", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", "--hostname", "sandbox",
                "--memory", Long.toString(limits.memoryBytes()),
                "--memory-swap", Long.toString(limits.memoryBytes()),
                "--cpus", Double.toString(limits.cpus()), "--pids-limit", Integer.toString(limits.pids()),
                "--ulimit", "nofile=" + limits.openFiles() + ":" + limits.openFiles(),
                "--tmpfs", "/tmp:size=" + limits.tmpBytes(),
                "--tmpfs", "/workspace:size=" + limits.tmpBytes() + ",uid=1000,gid=1000",
                "-w", SandboxSpec.WORKSPACE));
        new TreeMap<>(RawBundles.PROGRAM_ENV).forEach((k, v) -> argv.addAll(List.of("-e", k + "=" + v)));
        for (RootFilesystem.HostBind bind : rootfs.binds()) {
            argv.addAll(List.of("-v", bind.source() + ":" + bind.destination() + ":ro"));
        }
        argv.add(IMAGE); // imported: no entrypoint, so the program runs as PID 1
        argv.addAll(program);
        return argv;
    }

    /** Removes this run's containers and, if this run imported it, the image. */
    void cleanup() {
        if (!up) {
            return;
        }
        try {
            for (String id : ours()) {
                HostCommand.run(List.of("docker", "rm", "-f", id), CMD_TIMEOUT);
            }
            if (imageCreated) {
                HostCommand.run(List.of("docker", "image", "rm", IMAGE), CMD_TIMEOUT);
            }
        } catch (IOException e) {
            System.err.println("cleanup: docker: " + e.getMessage());
        }
    }

    /** This run's containers, and the image if this run imported it, that still exist. */
    List<String> leftovers() throws IOException {
        List<String> left = new ArrayList<>();
        if (!up) {
            return left;
        }
        List<String> ids = ours();
        if (!ids.isEmpty()) {
            left.add("docker containers " + String.join(" ", ids));
        }
        if (imageCreated && HostCommand.run(List.of("docker", "image", "inspect", IMAGE), CMD_TIMEOUT).ok()) {
            left.add("docker image " + IMAGE);
        }
        return left;
    }

    private List<String> ours() throws IOException {
        return HostCommand.run(List.of("docker", "ps", "-aq", "--filter", "name=" + prefix), CMD_TIMEOUT).stdout()
                .lines().map(String::strip).filter(s -> !s.isEmpty()).toList();
    }
}
