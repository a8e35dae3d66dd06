package io.mcpsandbox.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.model.ProductVersion;
import io.mcpsandbox.testing.SystemTest;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The real bin/mcp-sandbox, run from a copy whose target/mcp-sandbox.jar is a manifest jar over this build's
 * classes: the JDK choice is kept, and a start archive that the JVM cannot use (garbage, or made for another jar)
 * changes nothing the user sees: the command's output only, nothing from the JVM about archives.
 */
@SystemTest
class LauncherTest {
    private Path root;

    record Run(int exitCode, String stdout, String stderr) {
    }

    @BeforeEach
    void copyOfTheLauncher() throws IOException {
        root = Files.createTempDirectory("mcp-sandbox-launcher-test");
        Files.createDirectories(root.resolve("bin"));
        Files.createDirectories(root.resolve("target"));
        Path launcher = Files.copy(Path.of("bin/mcp-sandbox"), root.resolve("bin/mcp-sandbox"));
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        manifest.getMainAttributes().put(Attributes.Name.MAIN_CLASS, "io.mcpsandbox.cli.Main");
        manifest.getMainAttributes().put(Attributes.Name.CLASS_PATH, List.of(System.getProperty("java.class.path")
                .split(File.pathSeparator)).stream().map(p -> Path.of(p).toUri().toString())
                .collect(Collectors.joining(" ")));
        try (OutputStream out = Files.newOutputStream(jar());
                JarOutputStream jar = new JarOutputStream(out, manifest)) {
            jar.flush();
        }
    }

    @AfterEach
    void remove() throws IOException {
        DeleteTree.delete(root);
    }

    private Path jar() {
        return root.resolve("target/mcp-sandbox.jar");
    }

    private Run launch(String... args) throws Exception {
        return launch(java.util.Map.of(), args);
    }

    private Run launch(java.util.Map<String, String> env, String... args) throws Exception {
        List<String> argv = new java.util.ArrayList<>(List.of(root.resolve("bin/mcp-sandbox").toString()));
        argv.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(argv);
        pb.environment().remove("JAVA_HOME");
        pb.environment().putAll(env);
        Process p = pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        byte[] out = p.getInputStream().readAllBytes();
        byte[] err = p.getErrorStream().readAllBytes();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    @Test
    void theJdkChoiceIsKeptNextToTheJar() throws Exception {
        Run r = launch("--version");
        assertThat(r.stdout()).isEqualTo(ProductVersion.nameAndVersion() + "\n");
        assertThat(r.stderr()).isEmpty();
        Path chosen = root.resolve("target/java.path");
        assertThat(chosen).exists();
        String java = Files.readString(chosen).strip();
        assertThat(Path.of(java)).isExecutable();
        // A choice whose java is gone is not used: the launcher chooses again.
        Files.writeString(chosen, "/nonexistent/bin/java\n");
        assertThat(launch("--version").stdout()).isEqualTo(ProductVersion.nameAndVersion() + "\n");
        assertThat(Files.readString(chosen).strip()).isEqualTo(java);
    }

    /**
     * The launcher reads a local server's endpoint file to guess a hand-off: one a killed server left (its pid gone,
     * or reused by another process) changes nothing the user sees, not a word on stderr.
     */
    @Test
    void anEndpointFileOfAServerThatIsGoneChangesNothingVisible() throws Exception {
        Path state = Files.createDirectories(root.resolve("state"));
        java.util.Map<String, String> env = java.util.Map.of("MCP_SANDBOX_STATE_DIR", state.toString());
        Process gone = new ProcessBuilder("true").start();
        assertThat(gone.waitFor(10, TimeUnit.SECONDS)).isTrue();
        for (String pidAndStart : List.of("pid=" + gone.pid() + "\nstart=1", "pid=" + ProcessHandle.current().pid()
                + "\nstart=1", "pid=x\nstart=1", "start=1")) {
            Files.writeString(state.resolve("local-endpoint"), "url=http://127.0.0.1:9\ntoken=" + "ab".repeat(32)
                    + "\n" + pidAndStart + "\n");
            Run version = launch(env, "--version");
            assertThat(version.stdout()).as(pidAndStart).isEqualTo(ProductVersion.nameAndVersion() + "\n");
            assertThat(version.stderr()).as(pidAndStart).isEmpty();
            Run help = launch(env, "exec", "--help");
            assertThat(help.exitCode()).as(pidAndStart).isZero();
            assertThat(help.stdout()).contains("Usage: mcp-sandbox exec");
            assertThat(help.stderr()).as(pidAndStart).isEmpty();
        }
    }

    @Test
    void anArchiveTheJvmCannotUseChangesNothingVisible() throws Exception {
        launch("--version"); // the JDK choice
        String java = Files.readString(root.resolve("target/java.path")).strip();
        Path archive = root.resolve("target/mcp-sandbox.aot");
        Files.write(archive, "not an archive".repeat(1000).getBytes(StandardCharsets.US_ASCII));
        Files.setLastModifiedTime(archive, FileTime.from(Instant.now().plusSeconds(5)));
        Files.writeString(root.resolve("target/mcp-sandbox.archive"), "aot " + java + " " + archive + "\n");
        Run help = launch("exec", "--help");
        assertThat(help.exitCode()).isZero();
        assertThat(help.stdout()).contains("Usage: mcp-sandbox exec").contains("--local");
        assertThat(help.stderr()).isEmpty();
        // Made by this java for another jar (here: for the JVM's own classes only): refused quietly too.
        Files.delete(archive);
        Process train = new ProcessBuilder(java, "-XX:AOTCacheOutput=" + archive, "-Xlog:aot*=off",
                "-Xlog:cds*=off", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-version")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        assertThat(train.waitFor(120, TimeUnit.SECONDS)).isTrue();
        if (Files.exists(archive)) {
            Files.setLastModifiedTime(archive, FileTime.from(Instant.now().plusSeconds(5)));
            Run again = launch("exec", "--help");
            assertThat(again.exitCode()).isZero();
            assertThat(again.stdout()).contains("Usage: mcp-sandbox exec");
            assertThat(again.stderr()).isEmpty();
        }
    }
}
