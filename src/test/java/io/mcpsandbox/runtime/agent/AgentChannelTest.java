package io.mcpsandbox.runtime.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The channel with its reader thread, over a pipe the test plays the agent on. */
class AgentChannelTest {
    private static final Duration HANDSHAKE = Duration.ofSeconds(5);
    private static final Duration WAIT = Duration.ofSeconds(10);

    private final TestPipe agent = new TestPipe();
    private final ByteArrayOutputStream toAgent = new ByteArrayOutputStream();
    private AgentChannel channel;

    @AfterEach
    void closeChannel() {
        if (channel != null) {
            channel.close();
        }
    }

    @Test
    void theHandshakeGivesTheAgentsName() throws IOException {
        agent.feed(Frames.ready("mcp-agent 1.0"));
        channel = open();
        assertThat(channel.agentName()).isEqualTo("mcp-agent 1.0");
        assertThat(channel.endCause()).isEmpty();
    }

    /** An agent that stalls inside its ready frame: the handshake times out and the reader stops. */
    @Test
    void anAgentStallingMidFrameFailsTheHandshake() {
        agent.feed(new byte[] {0, 0, 0, 9, (byte) 0x81, 0});
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> AgentChannel.open("stall", agent, toAgent, Duration.ofMillis(300)))
                .isInstanceOf(AgentProtocolException.class).hasMessage("no ready frame within 300 ms");
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
        assertThat(agent.isClosed()).isTrue();
    }

    @Test
    void anEndOfStreamOrAViolationBeforeReadyFailsTheHandshake() {
        agent.closeWrite();
        assertThatThrownBy(() -> open()).isInstanceOf(EOFException.class)
                .hasMessage("the agent's channel reached end of stream");
        TestPipe other = new TestPipe();
        other.feed(Frames.started(1, 2));
        assertThatThrownBy(() -> AgentChannel.open("early", other, toAgent, HANDSHAKE))
                .isInstanceOf(AgentProtocolException.class).hasMessage("frame 1: started for stream 1 before ready");
    }

    @Test
    void aProcessRunsAndTheHostsFramesReachTheAgent() throws IOException {
        agent.feed(Frames.ready("a"));
        channel = open();
        RecordingListener listener = new RecordingListener();
        AgentProcess process = channel.start(List.of("cat"), Map.of("A", "1"), "/w", listener);
        process.writeStdin("hi".getBytes());
        process.closeStdin();
        process.closeStdin();
        assertThatThrownBy(() -> process.writeStdin("more".getBytes())).isInstanceOf(IllegalStateException.class)
                .hasMessage("stdin of process 1 is closed");
        process.signal(15);
        agent.feed(Frames.concat(Frames.started(1, 9), Frames.stdout(1, "hi".getBytes()), Frames.exit(1, 0, 0)));
        await().atMost(WAIT).until(listener::ended);

        assertThat(listener.events()).containsExactly("started 9", "stdout 2", "exited exit 0");
        assertThat(channel.activeProcesses()).isZero();
        List<Frames.HostFrame> sent = Frames.hostFrames(toAgent.toByteArray());
        assertThat(sent).extracting(Frames.HostFrame::type).containsExactly(0x01, 0x02, 0x03, 0x04);
        assertThat(sent).extracting(Frames.HostFrame::stream).containsOnly(1);
        byte[] start = FrameWriter.encodeStart(1, List.of("cat"), Map.of("A", "1"), "/w");
        assertThat(Arrays.copyOf(toAgent.toByteArray(), start.length)).isEqualTo(start);
        assertThat(sent.get(1).payload()).isEqualTo("hi".getBytes());
        assertThat(sent.get(3).payload()).containsExactly(15);

        // Stdin and signals for an ended process go nowhere.
        int before = toAgent.size();
        process.signal(9);
        assertThat(toAgent.size()).isEqualTo(before);
    }

    @Test
    void aViolationFailsEveryPendingProcessAndEndsTheChannel() throws IOException {
        agent.feed(Frames.ready("a"));
        channel = open();
        RecordingListener running = new RecordingListener();
        RecordingListener pending = new RecordingListener();
        channel.start(List.of("a"), Map.of(), "/", running);
        channel.start(List.of("b"), Map.of(), "/", pending);
        agent.feed(Frames.concat(Frames.started(1, 5), Frames.exit(1, 0, 0), Frames.stdout(1, new byte[1])));

        await().atMost(WAIT).until(pending::ended);
        assertThat(pending.events()).containsExactly("failed frame 4: stdout for stream 1 after its exit");
        assertThat(pending.failure()).isInstanceOf(AgentProtocolException.class);
        assertThat(running.events()).containsExactly("started 5", "exited exit 0");
        assertThat(channel.endCause()).get().isSameAs(pending.failure());
        assertThat(agent.isClosed()).isTrue();
        await().atMost(WAIT).until(() -> !channel.readerAlive());
        assertThatThrownBy(() -> channel.start(List.of("c"), Map.of(), "/", new RecordingListener()))
                .isInstanceOf(IOException.class)
                .hasMessage("the agent channel has ended: frame 4: stdout for stream 1 after its exit");
    }

    @Test
    void theAgentsEndOfStreamFailsWhatIsStillRunning() throws IOException {
        agent.feed(Frames.ready("a"));
        channel = open();
        RecordingListener listener = new RecordingListener();
        channel.start(List.of("a"), Map.of(), "/", listener);
        agent.feed(Frames.started(1, 5));
        agent.closeWrite();
        await().atMost(WAIT).until(listener::ended);
        assertThat(listener.events()).containsExactly("started 5", "failed the agent's channel reached end of stream");
    }

    @Test
    void closeStopsTheReaderAndFailsPendingProcesses() throws IOException {
        agent.feed(Frames.ready("a"));
        channel = open();
        RecordingListener listener = new RecordingListener();
        channel.start(List.of("a"), Map.of(), "/", listener);
        channel.close();
        assertThat(listener.events()).containsExactly("failed the host closed the agent channel");
        await().atMost(WAIT).until(() -> !channel.readerAlive());
        assertThat(agent.isClosed()).isTrue();
    }

    @Test
    void theChannelHoldsAtMost64Processes() throws IOException {
        agent.feed(Frames.ready("a"));
        channel = open();
        for (int i = 0; i < 64; i++) {
            channel.start(List.of("sleep"), Map.of(), "/", new RecordingListener());
        }
        int written = toAgent.size();
        assertThatThrownBy(() -> channel.start(List.of("one more"), Map.of(), "/", new RecordingListener()))
                .isInstanceOf(IllegalStateException.class);
        assertThat(toAgent.size()).isEqualTo(written);
        agent.feed(Frames.error(3, "no"));
        await().atMost(WAIT).until(() -> channel.activeProcesses() == 63);
        assertThat(channel.start(List.of("now"), Map.of(), "/", new RecordingListener()).id()).isEqualTo(65);
    }

    @Test
    void aRefusedStartUsesNoId() throws IOException {
        agent.feed(Frames.ready("a"));
        channel = open();
        assertThatThrownBy(() -> channel.start(List.of(""), Map.of(), "/", new RecordingListener()))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(channel.start(List.of("a"), Map.of(), "/", new RecordingListener()).id()).isEqualTo(1);
        assertThat(channel.activeProcesses()).isEqualTo(1);
    }

    /** 10 MiB in frames of the largest size: every byte counted, the reader keeps up. */
    @Test
    void tenMebibytesOfOutputInMaxSizeFrames() throws IOException {
        agent.feed(Frames.ready("a"));
        channel = open();
        RecordingListener listener = new RecordingListener().discardOutput();
        AgentProcess process = channel.start(List.of("yes"), Map.of(), "/", listener);
        byte[] chunk = new byte[65536];
        new Random(1).nextBytes(chunk);
        agent.feed(Frames.started(1, 7));
        byte[] frame = Frames.stdout(1, chunk);
        for (int i = 0; i < 160; i++) {
            agent.feed(frame);
        }
        agent.feed(Frames.exit(1, 0, 0));
        await().atMost(Duration.ofSeconds(60)).until(listener::ended);
        assertThat(listener.events()).containsExactly("started 7", "exited exit 0");
        assertThat(listener.outputChunks()).isEqualTo(160);
        assertThat(process.stdoutBytes()).isEqualTo(10L << 20);
        assertThat(process.stderrBytes()).isZero();
    }

    /** Mutated agent streams after the handshake: the channel ends only as a violation, an agent's
     *  give-up or its end of stream, and every process hears exactly one end. */
    @Test
    void mutatedAgentStreamsEndTheChannelOnlyInTheKnownWays() throws IOException {
        byte[] valid = Frames.concat(Frames.started(1, 10), Frames.stdout(1, new byte[100]), Frames.started(2, 11),
                Frames.stderr(2, "w".getBytes()), Frames.exit(1, 0, 0), Frames.error(3, "nope"), Frames.exit(2, 1, 9));
        Random random = new Random(13);
        for (int round = 0; round < 300; round++) {
            TestPipe pipe = new TestPipe();
            pipe.feed(Frames.ready("a"));
            try (AgentChannel fuzzed = AgentChannel.open("fuzz", pipe, new ByteArrayOutputStream(), HANDSHAKE)) {
                List<RecordingListener> listeners = List.of(new RecordingListener(), new RecordingListener(),
                        new RecordingListener());
                for (RecordingListener listener : listeners) {
                    fuzzed.start(List.of("x"), Map.of(), "/", listener);
                }
                pipe.feed(FrameReaderTest.Mutations.mutate(valid, random));
                pipe.closeWrite();
                await().pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1)).atMost(WAIT)
                        .until(() -> fuzzed.endCause().isPresent());
                assertThat(fuzzed.endCause().get())
                        .isInstanceOfAny(AgentProtocolException.class, AgentGaveUpException.class, EOFException.class);
                for (RecordingListener listener : listeners) {
                    await().pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1)).atMost(WAIT)
                            .until(listener::ended);
                    assertThat(listener.events().stream().filter(e -> e.matches("(exited|startFailed|failed).*")))
                            .hasSize(1);
                }
            }
        }
    }

    private AgentChannel open() throws IOException {
        return AgentChannel.open("test", agent, toAgent, HANDSHAKE);
    }
}
