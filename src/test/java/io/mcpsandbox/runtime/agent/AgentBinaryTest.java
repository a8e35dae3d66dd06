package io.mcpsandbox.runtime.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.testing.SystemTest;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
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
