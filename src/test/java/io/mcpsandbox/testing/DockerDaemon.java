package io.mcpsandbox.testing;

import io.mcpsandbox.host.HostCommand;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * A Docker daemon for the tests: the one already running (.ci/run starts one), or one started here with
 * runsc registered, shared by every test class of this JVM and stopped when the JVM exits. A test never
 * skips because Docker is missing: it fails and says why.
 */
public final class DockerDaemon {
    private static Process started;
    private static Path log;

    private DockerDaemon() {
    }

    public static synchronized void ensureRunning() throws IOException, InterruptedException {
        if (answers()) {
            return;
        }
        Path config = Files.createTempFile("mcp-dockerd-", ".json");
        Files.writeString(config, "{\"runtimes\": {\"runsc\": {\"path\": \"/usr/bin/runsc\", "
                + "\"runtimeArgs\": [\"--network=none\", \"--oci-seccomp\"]}}}\n");
        log = Files.createTempFile("mcp-dockerd-", ".log");
        try {
            started = HostCommand.builder(List.of("dockerd", "--iptables=false", "--bridge=none",
                            "--config-file", config.toString()))
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        } catch (IllegalArgumentException | IOException e) {
            throw new AssertionError("dockerd is not installed or cannot start (Debian package docker.io): "
                    + e.getMessage(), e);
        }
        stopAtExit(config);
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline) {
            if (!started.isAlive()) {
                throw new AssertionError("dockerd exited with " + started.exitValue() + ": " + tail());
            }
            if (answers()) {
                return;
            }
            Thread.sleep(250);
        }
        throw new AssertionError("dockerd did not answer on /var/run/docker.sock within 60 s: " + tail());
    }

    private static void stopAtExit(Path config) {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            started.destroy();
            try {
                if (!started.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
                    started.destroyForcibly();
                }
                Files.deleteIfExists(config);
                Files.deleteIfExists(log);
            } catch (InterruptedException | IOException e) {
                started.destroyForcibly();
            }
        }, "stop-dockerd"));
    }

    /** True when a daemon answers on the default socket. */
    public static boolean answers() {
        try {
            return HostCommand.run(List.of("docker", "-H", "unix:///var/run/docker.sock", "version", "--format",
                    "{{.Server.Version}}"), Duration.ofSeconds(10)).ok();
        } catch (IOException e) {
            return false;
        }
    }

    private static String tail() {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 15), lines.size()));
        } catch (IOException e) {
            return "(no log)";
        }
    }

    /** Runs the docker CLI (test set-up only: building images from what is on the machine). */
    public static String docker(String... args) throws IOException {
        List<String> argv = new java.util.ArrayList<>(List.of("docker", "-H", "unix:///var/run/docker.sock"));
        argv.addAll(List.of(args));
        return HostCommand.check(argv, Duration.ofMinutes(2));
    }
}
