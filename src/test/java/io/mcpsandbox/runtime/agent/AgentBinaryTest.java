package io.mcpsandbox.runtime.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.testing.SystemTest;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real agent ({@code agent/build/mcp-agent}, built by {@code make -C agent}) as a plain child process whose
 * stdin and stdout are the channel: what the codec promises, checked against what the agent does. Without the
 * binary every test fails (a test that never ran proves nothing).
 */
@SystemTest
class AgentBinaryTest {
    private static final Path AGENT = Path.of("agent/build/mcp-agent").toAbsolutePath();
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final Map<String, String> ENV = Map.of("PATH", "/usr/bin:/bin");

    @TempDir
    Path dir;
    private Process agent;
    private Path agentLog;
    private AgentChannel channel;

    @BeforeEach
    void startAgent() throws IOException {
        if (!Files.isExecutable(AGENT)) {
            fail("agent binary missing: run make -C agent (looked for " + AGENT + ")");
        }
        dir = dir.toRealPath();  // the agent follows no link, not even one in the temp dir's own path
        agentLog = dir.resolve("agent.log");
        agent = new ProcessBuilder(AGENT.toString()).redirectError(agentLog.toFile()).start();
        channel = AgentChannel.open("binary-test", agent.getInputStream(), agent.getOutputStream(),
                Duration.ofSeconds(5));
    }

    @AfterEach
    void stopAgent() throws Exception {
        if (channel != null) {
            channel.close();
        }
        if (agent != null) {
            agent.destroyForcibly();
            agent.waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void theAgentSaysWhoItIs() {
        assertThat(channel.agentName()).isNotBlank();
    }

    @Test
    void argvEnvAndCwdArriveExactly() throws Exception {
        Path cwd = Files.createDirectory(dir.resolve("work dir")).toRealPath();
        Map<String, String> env = new LinkedHashMap<>(ENV);
        env.put("FOO", "x  y*");
        env.put("EMPTY", "");
        RecordingListener echo = run(List.of("/bin/sh", "-c", "printf '[%s]' \"$@\"; echo; pwd", "sh", "a b", "c*",
                "é", "$HOME", "-n"), env, cwd.toString());
        assertThat(echo.stdout()).isEqualTo("[a b][c*][é][$HOME][-n]\n" + cwd + "\n");
        assertThat(echo.events().getLast()).isEqualTo("exited exit 0");

        RecordingListener printenv = run(List.of("/usr/bin/env"), env, "/");
        assertThat(printenv.stdout().lines().sorted()).containsExactly("EMPTY=", "FOO=x  y*", "PATH=/usr/bin:/bin");
    }

    @Test
    void stdoutAndStderrStaySeparate() throws Exception {
        RecordingListener listener = run(List.of("/bin/sh", "-c", "echo out; echo err >&2; echo out2"), ENV, "/");
        assertThat(listener.stdout()).isEqualTo("out\nout2\n");
        assertThat(listener.stderr()).isEqualTo("err\n");
    }

    @Test
    void stdinGoesInFramesToCat() throws Exception {
        byte[] input = new byte[200_000];
        for (int i = 0; i < input.length; i++) {
            input[i] = (byte) ('a' + i % 26);
        }
        RecordingListener listener = new RecordingListener();
        AgentProcess cat = channel.start(List.of("cat"), ENV, "/", listener);
        cat.writeStdin("hello\n".getBytes(StandardCharsets.UTF_8));
        cat.writeStdin(input);
        cat.closeStdin();
        awaitEnd(listener);
        assertThat(listener.stdout()).isEqualTo("hello\n" + new String(input, StandardCharsets.US_ASCII));
        assertThat(listener.events().getLast()).isEqualTo("exited exit 0");
    }

    @Test
    void anExitCodeIsReported() throws Exception {
        assertThat(run(List.of("/bin/sh", "-c", "exit 3"), ENV, "/").events())
                .containsOnlyOnce("exited exit 3").last().isEqualTo("exited exit 3");
    }

    @Test
    void deathBySignalIsReported() throws Exception {
        assertThat(run(List.of("/bin/sh", "-c", "kill -TERM $$"), ENV, "/").events().getLast())
                .isEqualTo("exited signal 15");

        RecordingListener sleeper = new RecordingListener();
        AgentProcess sleep = channel.start(List.of("sleep", "100"), ENV, "/", sleeper);
        await().atMost(WAIT).until(() -> sleep.pid() > 0);
        sleep.signal(9);
        awaitEnd(sleeper);
        assertThat(sleeper.events()).containsExactly("started " + sleep.pid(), "exited signal 9");
    }

    @Test
    void aMissingProgramIsAStartError() throws Exception {
        RecordingListener listener = run(List.of("/nonexistent/program"), ENV, "/");
        assertThat(listener.events()).hasSize(1);
        assertThat(listener.events().getFirst()).startsWith("startFailed ");
        assertThat(channel.endCause()).isEmpty();
    }

    @Test
    void aMebibyteOfOutputArrivesWhole() throws Exception {
        RecordingListener listener = new RecordingListener().discardOutput();
        AgentProcess process = channel.start(List.of("head", "-c", "1048576", "/dev/zero"), ENV, "/", listener);
        process.closeStdin();
        awaitEnd(listener);
        assertThat(process.stdoutBytes()).isEqualTo(1 << 20);
        assertThat(listener.events()).last().isEqualTo("exited exit 0");
    }

    @Test
    void shutdownEndsEverythingAndTheAgentExits() throws Exception {
        RecordingListener sleeper = new RecordingListener();
        AgentProcess sleep = channel.start(List.of("sleep", "100"), ENV, "/", sleeper);
        await().atMost(WAIT).until(() -> sleep.pid() > 0);
        channel.shutdown();
        await().atMost(WAIT).until(() -> channel.endCause().isPresent());
        assertThat(channel.endCause().get()).isInstanceOf(EOFException.class);
        assertThat(agent.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(agent.exitValue()).isZero();
        // The agent kills and reaps without an exit frame: for the host the process ends with the channel.
        await().atMost(WAIT).until(sleeper::ended);
        assertThat(sleeper.failure()).isInstanceOf(EOFException.class);
        await().atMost(WAIT).until(() -> ProcessHandle.of(sleep.pid()).map(p -> !p.isAlive()).orElse(true));
    }

    /** A frame the agent refuses: it says why on stream 0 and exits 2; the host hears that, not a mere EOF. */
    @Test
    void aHostViolationMakesTheAgentGiveUp() throws Exception {
        RecordingListener sleeper = new RecordingListener();
        AgentProcess sleep = channel.start(List.of("sleep", "100"), ENV, "/", sleeper);
        await().atMost(WAIT).until(() -> sleep.pid() > 0);
        agent.getOutputStream().write(new byte[] {0, 0, 0, 5, 0x7f, 0, 0, 0, 0});
        agent.getOutputStream().flush();
        await().atMost(WAIT).until(() -> channel.endCause().isPresent());
        assertThat(channel.endCause().get()).isInstanceOf(AgentGaveUpException.class)
                .hasMessageStartingWith("the agent gave up: ");
        assertThat(sleeper.failure()).isSameAs(channel.endCause().get());
        assertThat(agent.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(agent.exitValue()).isEqualTo(2);
    }

    @Test
    void aFileRoundTripsByteForByteWithItsMode() throws Exception {
        byte[] content = new byte[(1 << 20) + 3];
        new Random(3).nextBytes(content);
        content[0] = 0;
        Path file = dir.resolve("data.bin");
        channel.writeFile(file.toString(), 0640, new ByteArrayInputStream(content), content.length, WAIT);
        assertThat(Files.readAllBytes(file)).isEqualTo(content);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-r-----");
        ByteArrayOutputStream back = new ByteArrayOutputStream();
        assertThat(channel.readFile(file.toString(), content.length, back, WAIT)).isFalse();
        assertThat(back.toByteArray()).isEqualTo(content);
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        assertThat(channel.readFile(file.toString(), 100, head, WAIT)).isTrue();
        assertThat(head.toByteArray()).isEqualTo(Arrays.copyOf(content, 100));
        // The file is there for the processes too: one path for both.
        assertThat(run(List.of("/bin/sh", "-c", "wc -c < \"$0\"", file.toString()), ENV, "/").stdout().trim())
                .isEqualTo(String.valueOf(content.length));
        assertThat(listNames(dir)).containsExactlyInAnyOrder("agent.log", "data.bin");
    }

    @Test
    void symbolicLinksAreNeverFollowed() throws Exception {
        Path real = Files.createDirectory(dir.resolve("real"));
        Files.writeString(real.resolve("secret"), "keep");
        Files.createSymbolicLink(dir.resolve("link"), real);
        Files.createSymbolicLink(dir.resolve("end"), real.resolve("secret"));
        Files.createSymbolicLink(dir.resolve("etc"), Path.of("/etc"));
        assertAgentRefuses(() -> channel.readFile(dir.resolve("link/secret").toString(), 10,
                OutputStream.nullOutputStream(), WAIT), "is a symbolic link");
        assertAgentRefuses(() -> channel.readFile(dir.resolve("end").toString(), 10, OutputStream.nullOutputStream(),
                WAIT), "is a symbolic link");
        assertAgentRefuses(() -> channel.writeFile(dir.resolve("end").toString(), 0644,
                new ByteArrayInputStream("new".getBytes()), 10, WAIT), "is a symbolic link");
        assertAgentRefuses(() -> channel.writeFile(dir.resolve("etc/mcp-agent-test").toString(), 0644,
                new ByteArrayInputStream("new".getBytes()), 10, WAIT), "is a symbolic link");
        assertAgentRefuses(() -> channel.listDirectory(dir.resolve("link").toString(), 10, WAIT),
                "a symbolic link, not a directory");
        assertThat(Files.readString(real.resolve("secret"))).isEqualTo("keep");
        assertThat(Path.of("/etc/mcp-agent-test")).doesNotExist();
        channel.deleteFile(dir.resolve("end").toString(), WAIT);
        assertThat(dir.resolve("end")).doesNotExist();
        assertThat(Files.readString(real.resolve("secret"))).isEqualTo("keep");
    }

    @Test
    void aFifoOrADirectoryIsRefusedAtOnce() throws Exception {
        Path fifo = dir.resolve("fifo");
        assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
        long t0 = System.nanoTime();
        assertAgentRefuses(() -> channel.readFile(fifo.toString(), 10, OutputStream.nullOutputStream(), WAIT),
                "is a FIFO");
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
        Files.createDirectories(dir.resolve("d/sub"));
        assertAgentRefuses(() -> channel.readFile(dir.resolve("d").toString(), 10, OutputStream.nullOutputStream(),
                WAIT), "is a directory");
        assertAgentRefuses(() -> channel.deleteFile(dir.resolve("d").toString(), WAIT), "not empty");
        channel.deleteFile(dir.resolve("d/sub").toString(), WAIT);
        assertThat(dir.resolve("d/sub")).doesNotExist();
    }

    @Test
    void aWriteIntoAMissingDirectoryFailsEarlyAndLeavesNothing() throws Exception {
        InputStream endless = new InputStream() {
            @Override
            public int read() {
                return 0;
            }

            @Override
            public int read(byte[] into, int at, int length) {
                return length;
            }
        };
        String target = dir.resolve("missing/f").toString();
        assertAgentRefuses(() -> channel.writeFile(target, 0644, endless, Long.MAX_VALUE, WAIT),
                dir.resolve("missing") + " does not exist");
        assertThat(dir.resolve("missing")).doesNotExist();
        assertThat(channel.endCause()).isEmpty();
    }

    @Test
    void aListingIsBoundedAndSaysWhatEachEntryIs() throws Exception {
        Path big = Files.createDirectory(dir.resolve("big"));
        for (int i = 0; i < 50; i++) {
            Files.writeString(big.resolve("f" + i), "x".repeat(i));
        }
        Files.createDirectory(big.resolve("sub"));
        Files.createSymbolicLink(big.resolve("link"), Path.of("/nowhere"));
        DirectoryListing some = channel.listDirectory(big.toString(), 10, WAIT);
        assertThat(some.truncated()).isTrue();
        assertThat(some.entries()).hasSize(10);
        DirectoryListing all = channel.listDirectory(big.toString(), 1000, WAIT);
        assertThat(all.truncated()).isFalse();
        assertThat(all.entries()).hasSize(52);
        Map<String, FileEntry> byName = new HashMap<>();
        all.entries().forEach(e -> byName.put(e.name(), e));
        assertThat(byName.get("f7")).extracting(FileEntry::kind, FileEntry::size, FileEntry::exactName)
                .containsExactly(FileEntry.Kind.FILE, 7L, true);
        assertThat(byName.get("f7").mtimeSeconds())
                .isEqualTo(Files.getLastModifiedTime(big.resolve("f7")).toMillis() / 1000);
        assertThat(byName.get("sub").kind()).isEqualTo(FileEntry.Kind.DIRECTORY);
        assertThat(byName.get("link").kind()).isEqualTo(FileEntry.Kind.LINK);
    }

    private List<String> listNames(Path directory) throws Exception {
        return channel.listDirectory(directory.toString(), 100, WAIT).entries().stream().map(FileEntry::name).toList();
    }

    private void assertAgentRefuses(ThrowingCallable call, String reason) {
        assertThatThrownBy(call).isInstanceOf(AgentFileException.class)
                .satisfies(e -> assertThat(((AgentFileException) e).reason()).contains(reason));
        assertThat(channel.endCause()).isEmpty();
    }

    private RecordingListener run(List<String> argv, Map<String, String> env, String cwd) throws Exception {
        RecordingListener listener = new RecordingListener();
        channel.start(argv, env, cwd, listener).closeStdin();
        awaitEnd(listener);
        return listener;
    }

    private void awaitEnd(RecordingListener listener) throws IOException {
        try {
            await().atMost(WAIT).until(listener::ended);
        } catch (RuntimeException e) {
            throw new AssertionError("no end; events " + listener.events() + "; channel " + channel.endCause()
                    + "; agent's stderr: " + tail(), e);
        }
        if (listener.failure() != null) {
            throw new AssertionError("the channel failed; agent's stderr: " + tail(), listener.failure());
        }
    }

    private String tail() throws IOException {
        byte[] log = Files.exists(agentLog) ? Files.readAllBytes(agentLog) : new byte[0];
        return new String(Arrays.copyOfRange(log, Math.max(0, log.length - 2000), log.length), StandardCharsets.UTF_8);
    }
}
