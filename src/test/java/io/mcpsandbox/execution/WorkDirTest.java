package io.mcpsandbox.execution;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.image.CatalogImage;
import io.mcpsandbox.image.HostImage;
import io.mcpsandbox.image.ImageCatalog;
import io.mcpsandbox.image.TestImages;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.testing.DockerDaemon;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 10 item 1: a request's working directory is created inside the sandbox's own tmpfs (/workspace or
 * /tmp) on every runtime, and one anywhere else is refused before a runtime could create it in the image
 * root that every execution shares.
 */
@SystemTest
class WorkDirTest {
    private static TestSandbox sandbox;
    private static Path work;
    private static Path imageRoot;
    private static final String IMAGE = "wd-world-writable";

    @BeforeAll
    static void start() throws Exception {
        DockerDaemon.ensureRunning();
        sandbox = TestSandbox.boundaryOnly();
        work = TestImages.workDir("mcp-workdir-test-");
        // The attack needs an image whose /var/tmp (like most distributions') is world-writable.
        Path root = TestImages.busyboxRoot(work.resolve("root"), "workdir-image");
        Path varTmp = Files.createDirectories(root.resolve("var/tmp"));
        Files.setPosixFilePermissions(varTmp, PosixFilePermissions.fromString("rwxrwxrwx"));
        TestImages.layout(root, work.resolve("layout"), "wd");
        Path archive = TestImages.ociArchive(work.resolve("layout"), "wd", work.resolve("wd.tar"));
        Path images = sandbox.services().config().imagesDir();
        ImageCatalog catalog = new ImageCatalog(images, new HostImage(Path.of("/"), images));
        CatalogImage image = catalog.importArchive(IMAGE, archive);
        imageRoot = catalog.rootfs(IMAGE, image.digest()).rootDir();
        assertThat(imageRoot.resolve("var/tmp")).isDirectory();
    }

    @AfterAll
    static void stop() throws IOException {
        sandbox.close();
        DeleteTree.delete(work);
    }

    @AfterEach
    void nothingLeftBehind() throws IOException {
        sandbox.assertNothingLeftBehind();
    }

    @ParameterizedTest
    @ValueSource(strings = {"runc", "runsc", "docker", "docker-runsc"})
    void aMissingWorkDirIsCreatedInTheSandboxTmpfsAndTheProgramRunsThere(String runtime) {
        for (String dir : List.of("/tmp/a/b", "/workspace/x/y")) {
            for (String image : List.of("host", IMAGE)) {
                // pwd -P: the kernel's view of the cwd; the mount table line shows which filesystem holds it.
                ExecutionResult r = sandbox.run(ExecutionRequest.builder().runtime(runtime).image(image).workDir(dir)
                        .command("sh", "-c", "pwd -P; echo written > f && cat f; cat /etc/marker 2>/dev/null; "
                                + "grep -E ' " + dir.substring(0, dir.indexOf('/', 1)) + " ' /proc/self/mounts "
                                + "| cut -d' ' -f3 | tail -1")
                        .build());
                assertThat(r.status()).as(runtime + " " + image + " " + dir + ": " + r.reason() + r.stderr())
                        .isEqualTo(ExecutionStatus.COMPLETED);
                assertThat(r.exitCode()).isZero();
                String[] lines = r.stdout().split("\n");
                assertThat(lines[0]).as(runtime + " " + image + " cwd").isEqualTo(dir);
                // The program owns its working directory: it can write there.
                assertThat(lines[1]).as(runtime + " " + image + " write in " + dir + ": " + r.stderr())
                        .isEqualTo("written");
                // The mount under the cwd is the sandbox's own tmpfs; gVisor shows a host tmpfs bound in (always
                // so for /workspace) as its gofer's 9p.
                List<String> types = runtime.contains("runsc") ? List.of("tmpfs", "9p") : List.of("tmpfs");
                assertThat(lines[lines.length - 1]).as(runtime + " " + image + " filesystem of " + dir)
                        .isIn(types);
                if (image.equals(IMAGE)) {
                    assertThat(r.stdout()).contains("workdir-image");
                }
            }
        }
        assertThat(imageEntries()).as("the shared image root is unchanged").isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"runc", "runsc", "docker", "docker-runsc"})
    void aWorkDirOutsideTheSandboxTmpfsIsRejectedAndNothingAppearsInTheImageRoot(String runtime) throws IOException {
        for (String dir : List.of("/var/tmp/x", "/var/tmp/covert/channel", "/proc/self/fd/7", "/etc", "/")) {
            ExecutionResult r = sandbox.run(ExecutionRequest.builder().runtime(runtime).image(IMAGE).workDir(dir)
                    .command("true").build());
            assertThat(r.status()).as(runtime + " " + dir + ": " + r.reason()).isEqualTo(ExecutionStatus.REJECTED);
            assertThat(r.reason()).startsWith("workDir: ").contains("/workspace").contains("/tmp");
        }
        assertThat(imageEntries()).as("nothing was created in the shared image root's /var/tmp").isEmpty();
        // Positive evidence that the image and runtime work, so the refusals above are the policy's.
        ExecutionResult ok = sandbox.run(ExecutionRequest.builder().runtime(runtime).image(IMAGE)
                .command("cat", "/etc/marker").build());
        assertThat(ok.stdout()).as(runtime + ": " + ok.reason() + ok.stderr()).isEqualTo("workdir-image\n");
    }

    private static List<Path> imageEntries() {
        try (Stream<Path> s = Files.list(imageRoot.resolve("var/tmp"))) {
            return s.toList();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
