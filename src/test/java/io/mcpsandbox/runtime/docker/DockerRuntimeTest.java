package io.mcpsandbox.runtime.docker;

import static org.assertj.core.api.Assertions.assertThat;


import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.host.HostCommand;
import io.mcpsandbox.image.CatalogImage;
import io.mcpsandbox.image.HostImage;
import io.mcpsandbox.image.ImageCatalog;
import io.mcpsandbox.image.TestImages;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.runtime.SeccompProfile;
import io.mcpsandbox.testing.DockerDaemon;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.json.JsonMapper;

/**
 * What only the Docker backend has, on a real daemon: its probe, catalog images loaded into the daemon,
 * the high level on docker-runsc, and the reaper of containers left by a dead server. The limits themselves
 * are tested on docker and docker-runsc by SandboxContainmentTest and HostileProgramsTest. After each test
 * none of its containers, sandbox directories, mounts or cgroups remain; after the class, none of its
 * images, unpacked roots or runsc processes.
 */
@SystemTest
@org.junit.jupiter.api.Timeout(value = 3, unit = java.util.concurrent.TimeUnit.MINUTES)
class DockerRuntimeTest {
    private static TestSandbox sandbox;
    private static DockerEngine engine;
    private static Path work;

    @BeforeAll
    static void start() throws Exception {
        DockerDaemon.ensureRunning();
        sandbox = TestSandbox.start();
        engine = ((DockerRuntime) sandbox.services().registry().find("docker").orElseThrow()).engine();
        work = TestImages.workDir("mcp-docker-test-");
    }

    @AfterAll
    static void stop() throws Exception {
        if (sandbox != null) {
            Path images = sandbox.services().config().imagesDir();
            sandbox.close();
            assertThat(images).doesNotExist();
        }
        assertThat(TestSandbox.runscProcessesOfDocker()).as("runsc shim/sentry processes left by Docker").isEmpty();
        if (work != null) {
            DeleteTree.delete(work);
        }
    }

    @AfterEach
    void nothingLeftBehind() throws IOException {
        sandbox.assertNothingLeftBehind();
    }

    private static ExecutionResult run(String runtime, ExecutionRequest.Builder request) {
        return sandbox.run(request.runtime(runtime).build());
    }

    private static ExecutionRequest.Builder sh(String script) {
        return ExecutionRequest.builder().command("sh", "-c", script);
    }

    private io.mcpsandbox.runtime.UidRangeAllocator uids() {
        return new io.mcpsandbox.runtime.UidRangeAllocator(0x70000000L, 4, work.resolve("uid-slots"),
                io.mcpsandbox.host.HostIdFiles.system());
    }

    @Test
    void unusableWithAReasonWhenNoDaemonAnswers() throws IOException {
        try (DockerEngine nowhere = new DockerEngine("unix://" + work.resolve("no.sock"), work.resolve("d"),
                io.mcpsandbox.testing.TestSandbox.BUILT_AGENT, SeccompProfile.loadDefault(JsonMapper.builder().build()),
                io.mcpsandbox.host.CgroupReader.host())) {
            RuntimeInfo info = new DockerRuntime(nowhere, DockerRuntime.Kind.RUNC, uids()).probe();
            assertThat(info.usable()).isFalse();
            assertThat(info.reason()).contains("no Docker daemon answers at unix://");
        }
    }

    @Test
    void unusableWithAReasonWithoutTheAgent() throws IOException {
        try (DockerEngine noAgent = new DockerEngine(DockerConnection.DEFAULT_HOST, work.resolve("d2"),
                work.resolve("no-agent"), SeccompProfile.loadDefault(JsonMapper.builder().build()),
                io.mcpsandbox.host.CgroupReader.host())) {
            RuntimeInfo info = new DockerRuntime(noAgent, DockerRuntime.Kind.RUNC, uids()).probe();
            assertThat(info.usable()).isFalse();
            assertThat(info.reason()).contains("no-agent").contains("bin/setup");
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"docker", "docker-runsc"})
    void anOutputCapLargerThanTheTmpfsStillEndsAsOutputLimit(String runtime) throws IOException {
        // The program's output files count against RLIMIT_FSIZE, which is the tmpfs size (1 MiB here).
        try (TestSandbox small = TestSandbox.start(Map.of("MCP_SANDBOX_LIMITS_DEFAULT_TMP", "1m"))) {
            ExecutionResult r = small.run(sh("yes 0123456789").runtime(runtime)
                    .limits(new io.mcpsandbox.model.LimitsRequest(20_000L, null, null, null, 2L << 20)).build());
            assertThat(r.status()).as(r.exitCode() + " " + r.stderr()).isEqualTo(ExecutionStatus.OUTPUT_LIMIT);
            assertThat(r.stdout()).hasSize(2 << 20);
            small.assertNothingLeftBehind();
        }
    }

    @Test
    void configurationSendsLowAndMediumToDocker() throws IOException {
        try (TestSandbox viaDocker = TestSandbox.start(Map.of("MCP_SANDBOX_RUNTIME_STANDARD", "docker"))) {
            for (SecurityLevel level : List.of(SecurityLevel.LOW, SecurityLevel.MEDIUM)) {
                ExecutionResult r = viaDocker.run(sh("echo ok").securityLevel(level).build());
                assertThat(r.status()).as(r.reason()).isEqualTo(ExecutionStatus.COMPLETED);
                assertThat(r.runtime()).isEqualTo("docker");
            }
            assertThat(viaDocker.run(sh("true").build()).runtime()).as("no level given").isEqualTo("docker");
            assertThat(viaDocker.run(sh("true").securityLevel(SecurityLevel.HIGH).build()).runtime())
                    .isEqualTo("runsc");
            viaDocker.assertNothingLeftBehind();
        }
    }

    @Test
    void highLevelCanRunOnDockerRunsc() {
        ExecutionResult r = run("docker-runsc",
                sh("dmesg 2>/dev/null | head -1; echo ok").securityLevel(SecurityLevel.HIGH));
        assertThat(r.status()).as(r.reason()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(r.stdout()).endsWith("ok\n");
        ExecutionResult refused = run("docker", sh("true").securityLevel(SecurityLevel.HIGH));
        assertThat(refused.status()).isEqualTo(ExecutionStatus.REJECTED);
    }

    @Test
    void catalogImagesFromDockerSaveAndOciArchivesRunOnEveryBackend() throws Exception {
        String tag = "mcptest-bb-" + UUID.randomUUID().toString().substring(0, 8);
        Path root = TestImages.busyboxRoot(work.resolve("root-" + tag), "catalog-image");
        Path rootTar = work.resolve(tag + "-root.tar");
        HostCommand.check(List.of("tar", "-C", root.toString(), "-cf", rootTar.toString(), "."), Duration.ofMinutes(1));
        Path saved = work.resolve(tag + "-saved.tar");
        Path oci = work.resolve(tag + "-oci.tar");
        DockerDaemon.docker("import", rootTar.toString(), tag + ":1");
        try {
            DockerDaemon.docker("save", "-o", saved.toString(), tag + ":1");
            HostCommand.check(List.of("skopeo", "copy", "--quiet", "docker-archive:" + saved, "oci-archive:" + oci),
                    Duration.ofMinutes(2));
        } finally {
            DockerDaemon.docker("rmi", tag + ":1");
        }
        ImageCatalog catalog = new ImageCatalog(sandbox.services().config().imagesDir(),
                new HostImage(Path.of("/"), sandbox.services().config().imagesDir()));
        CatalogImage fromSave = catalog.importArchive("ghcr.io/org/bb-saved:1.2", saved);
        CatalogImage fromOci = catalog.importArchive("bb-oci:3.19", oci);
        assertThat(fromSave.unpacked()).isTrue();
        for (String runtime : List.of("docker", "docker-runsc", "runc", "runsc")) {
            for (CatalogImage image : List.of(fromSave, fromOci)) {
                ExecutionResult r = run(runtime, sh("cat /etc/marker; id -u; ls /usr 2>&1 | head -1; "
                        + "(echo x > /x) 2>/dev/null && echo WROTE; echo ok > /tmp/t && cat /tmp/t")
                        .image(image.name()));
                assertThat(r.status()).as(runtime + " " + image.name() + ": " + r.reason() + r.stderr())
                        .isEqualTo(ExecutionStatus.COMPLETED);
                assertThat(r.stdout()).as(runtime).startsWith("catalog-image\n").doesNotContain("WROTE")
                        .endsWith("ok\n");
                sandbox.assertSandboxUid(runtime, Long.parseLong(r.stdout().split("\n")[1]));
            }
        }
        // One content, one unpacked root, one daemon image: removed with the root's last name.
        String ref = DockerImages.REPOSITORY + ":"
                + DockerImages.tagFor(catalog.rootfs("bb-oci:3.19", fromOci.digest()).rootDir());
        catalog.remove("ghcr.io/org/bb-saved:1.2");
        assertThat(engine.images().prune()).as("the root is still used by bb-oci").doesNotContain(ref);
        catalog.remove("docker.io/library/bb-oci:3.19");
        assertThat(engine.images().prune()).as("images of removed roots pruned").contains(ref);
        assertThat(DockerDaemon.docker("images", "-q", ref)).isBlank();
    }

    @Test
    void containersOfADeadOwnerAreReapedAndLiveOnesAreKept() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        OwnerId dead = new OwnerId(gone.pid(), 1, OwnerId.currentBootId());
        String id = UUID.randomUUID().toString();
        String name = "mcp-exec-" + id;
        String image = engine.images().ensure(HostImageRoot.of(sandbox));
        Path dir = sandbox.services().config().dataDir().resolve("docker/sandboxes").resolve(name);
        Files.writeString(Files.createDirectories(dir).resolve("owner"), dead.label());
        for (String tmpfs : List.of("workspace", "output")) {
            Files.createDirectories(dir.resolve(tmpfs));
            HostCommand.check(List.of("mount", "-t", "tmpfs", "-o", "size=1m", "t", dir.resolve(tmpfs).toString()),
                    Duration.ofSeconds(5));
        }
        engine.connection().control().createContainerCmd(image).withName(name).withEntrypoint("/.mcp-init")
                .withLabels(Map.of(DockerEngine.LABEL_EXECUTION, id, DockerEngine.LABEL_OWNER, dead.label(),
                        DockerEngine.LABEL_SANDBOX_DIR, dir.toString()))
                .exec();
        // One of a live owner (this process): must survive.
        String liveName = "mcp-exec-" + UUID.randomUUID();
        engine.connection().control().createContainerCmd(image).withName(liveName).withEntrypoint("/.mcp-init")
                .withLabels(Map.of(DockerEngine.LABEL_EXECUTION, liveName.substring(9),
                        DockerEngine.LABEL_OWNER, OwnerId.self().label()))
                .exec();
        try {
            List<String> reaped = engine.leftovers().reapLeftovers();
            assertThat(reaped).contains(name).doesNotContain(liveName);
            assertThat(engine.leftovers().listContainers()).doesNotContain(name).contains(liveName);
            assertThat(dir).doesNotExist();
        } finally {
            engine.connection().control().removeContainerCmd(liveName).withForce(true).exec();
        }
    }

    /** The host image's skeleton root of this test's data directory. */
    private static final class HostImageRoot {
        static Path of(TestSandbox sandbox) throws IOException {
            return new HostImage(Path.of("/"), sandbox.services().config().imagesDir()).materialize().rootDir();
        }
    }
}
