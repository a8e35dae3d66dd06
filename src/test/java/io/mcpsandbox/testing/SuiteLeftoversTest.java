package io.mcpsandbox.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.runtime.docker.DockerEngine;
import io.mcpsandbox.runtime.docker.DockerImages;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * Runs after every other test class (junit-platform.properties orders classes by {@link Order}) and fails
 * when the suite as a whole left something on the host: a Docker container or image of ours, a runsc
 * process of Docker's, a cgroup, a mount, or a directory of a {@link TestSandbox}. Daemon images whose
 * root directory is gone are pruned first, as a server's start does. The per-test checks
 * catch most leaks where they happen; this one catches what escapes them (an instance never closed, a
 * teardown that finished after its test). A server of your own using Docker on this host would show here too.
 */
@SystemTest
@Order(Integer.MAX_VALUE)
class SuiteLeftoversTest {

    @Test
    void noContainerImageProcessCgroupMountOrDirectoryRemains() throws Exception {
        DockerDaemon.ensureRunning();
        assertThat(DockerDaemon.docker("ps", "-a", "-q", "--filter", "label=" + DockerEngine.LABEL_EXECUTION)
                .lines().toList())
                .as("docker containers with our label").isEmpty();
        // Daemon images whose root directory is gone (CLI and server tests delete their data directories) are a
        // cache that a server prunes when it starts: prune as it would; then no image of ours may remain.
        try (TestSandbox server = TestSandbox.start()) {
            server.docker().orElseThrow().images().prune();
        }
        assertThat(DockerDaemon.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}",
                DockerImages.REPOSITORY).lines().toList()).as("docker images of sandbox roots").isEmpty();
        assertThat(TestSandbox.runscProcessesOfDocker())
                .as("runsc processes started by Docker").isEmpty();
        assertThat(TestSandbox.leftoverCgroups()).as("sandbox cgroups").isEmpty();
        assertThat(Files.readAllLines(Path.of("/proc/self/mounts")).stream()
                .filter(line -> line.split(" ")[1].contains("/mcp-sandbox-test-")).toList())
                .as("mounts under test directories").isEmpty();
        assertThat(TestSandbox.directoriesLeft()).as("data and state directories of test sandboxes").isEmpty();
    }
}
