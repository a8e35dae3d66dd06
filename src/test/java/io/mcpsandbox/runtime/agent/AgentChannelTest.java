package io.mcpsandbox.runtime.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
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
    void aProcessRunsAndTheHostsFramesReachTheAgent() throws Exception {
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
    void stdinGoesOneFrameAtATimeEachAfterTheAgentTookTheOneBefore() throws Exception {
        agent.feed(Frames.ready("a"));
        channel = open();
        RecordingListener listener = new RecordingListener();
        AgentProcess process = channel.start(List.of("cat"), Map.of(), "/w", listener);
        agent.feed(Frames.started(1, 9));
        await().atMost(WAIT).until(() -> listener.events().contains("started 9"));
        byte[] input = new byte[2 * AgentProtocol.MAX_PAYLOAD + 10];
        java.util.concurrent.CompletableFuture<Long> sent = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return process.writeStdin(input, java.util.concurrent.TimeUnit.SECONDS.toNanos(30));
            } catch (IOException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        await().atMost(WAIT).until(() -> stdinFrames() == 1);
        Thread.sleep(200);
        assertThat(stdinFrames()).as("no second frame before stdin_taken").isEqualTo(1);
        agent.feed(Frames.frame(0x8a, 1, new byte[0]));
        await().atMost(WAIT).until(() -> stdinFrames() == 2);
        agent.feed(Frames.frame(0x8a, 1, new byte[0]));
        assertThat(sent.get(10, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo(input.length);
        assertThat(stdinFrames()).isEqualTo(3);

        // A program that does not take its input: the write gives up at its timeout with what it sent.
        assertThat(process.writeStdin(new byte[10], java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(200)))
                .isZero();
        // Its end releases a waiting writer.
        agent.feed(Frames.exit(1, 0, 0));
        await().atMost(WAIT).until(listener::ended);
        assertThat(process.writeStdin(new byte[10], Long.MAX_VALUE)).isZero();
    }

    @Test
    void aStdinTakenWithNoFrameInFlightIsAViolation() throws IOException {
        agent.feed(Frames.ready("a"));
        channel = open();
        RecordingListener listener = new RecordingListener();
        channel.start(List.of("cat"), Map.of(), "/w", listener);
        agent.feed(Frames.concat(Frames.started(1, 9), Frames.frame(0x8a, 1, new byte[0])));
        await().atMost(WAIT).until(listener::ended);
        assertThat(channel.endCause()).get().isInstanceOf(AgentProtocolException.class)
                .extracting(Throwable::getMessage)
                .asString().contains("stdin_taken for stream 1 with no stdin frame in flight");
    }

    private long stdinFrames() {
        return Frames.hostFrames(toAgent.toByteArray()).stream().filter(f -> f.type() == 0x02).count();
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

    @Test
    void aWriteSendsChunksThenItsEndAndTheAgentsOkEndsIt() throws Exception {
        agent.feed(Frames.ready("a"));
        channel = open();
        byte[] content = new byte[150_000];
        new Random(2).nextBytes(content);
        CompletableFuture<Void> write = async(() -> {
            channel.writeFile("/w/f", 0640, new ByteArrayInputStream(content), content.length, WAIT);
            return null;
        });
        List<Frames.HostFrame> sent = awaitHostFrames(5);
        assertThat(sent).extracting(Frames.HostFrame::type).containsExactly(0x06, 0x07, 0x07, 0x07, 0x08);
        assertThat(sent).extracting(Frames.HostFrame::stream).containsOnly(1);
        assertThat(sent.get(0).payload())
                .isEqualTo(Frames.concat(new byte[] {0, 0, 1, (byte) 0xa0}, "/w/f\0".getBytes()));
        assertThat(Frames.concat(sent.get(1).payload(), sent.get(2).payload(), sent.get(3).payload()))
                .isEqualTo(content);
        assertThat(write).isNotDone();
        agent.feed(Frames.fileDone(1, 0));
        write.get(10, TimeUnit.SECONDS);
        assertThat(channel.start(List.of("x"), Map.of(), "/", new RecordingListener()).id()).isEqualTo(2);
    }

    @Test
    void anEarlyAgentErrorStopsTheWrite() throws Exception {
        agent.feed(Frames.ready("a"));
        channel = open();
        InputStream endless = new InputStream() {
            private boolean fed;

            @Override
            public int read() {
                return 'x';
            }

            @Override
            public int read(byte[] into, int at, int length) {
                if (!fed) {
                    fed = true;
                    agent.feed(Frames.fileError(1, "/w does not exist"));
                }
                return length;
            }
        };
        assertThatThrownBy(() -> channel.writeFile("/w/f", 0644, endless, Long.MAX_VALUE, WAIT))
                .isInstanceOf(AgentFileException.class).hasMessage("the agent could not write /w/f: /w does not exist");
        assertThat(Frames.hostFrames(toAgent.toByteArray())).extracting(Frames.HostFrame::type)
                .doesNotContain(0x08, 0x09);
        assertThat(channel.endCause()).isEmpty();
    }

    @Test
    void contentOverMaxBytesAbortsTheWrite() throws Exception {
        agent.feed(Frames.ready("a"));
        channel = open();
        assertThatThrownBy(() -> channel.writeFile("/f", 0644, new ByteArrayInputStream(new byte[70_000]), 69_999,
                WAIT)).isInstanceOf(FileTooLargeException.class)
                .hasMessage("the content for /f is larger than 69999 bytes");
        assertThat(Frames.hostFrames(toAgent.toByteArray())).extracting(Frames.HostFrame::type)
                .containsExactly(0x06, 0x07, 0x09);
        // The agent's answer to the abort is still checked, then goes nowhere; the channel goes on.
        agent.feed(Frames.fileError(1, "the host aborted the write of /f"));
        CompletableFuture<Void> delete = async(() -> {
            channel.deleteFile("/f", WAIT);
            return null;
        });
        awaitHostFrames(4);
        agent.feed(Frames.fileDone(2, 0));
        delete.get(10, TimeUnit.SECONDS);
    }

    @Test
    void aReadFillsTheSinkAndSaysWhetherItWasTruncated() throws Exception {
        agent.feed(Frames.ready("a"));
        channel = open();
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        CompletableFuture<Boolean> read = async(() -> channel.readFile("/f", 4, sink, WAIT));
        assertThat(awaitHostFrames(1).getFirst().payload())
                .isEqualTo(Frames.concat(new byte[] {0, 0, 0, 0, 0, 0, 0, 4}, "/f\0".getBytes()));
        agent.feed(Frames.concat(Frames.fileData(1, new byte[] {1, 0}), Frames.fileData(1, new byte[] {0, 2}),
                Frames.fileDone(1, 2)));
        assertThat(read.get(10, TimeUnit.SECONDS)).isTrue();
        assertThat(sink.toByteArray()).containsExactly(1, 0, 0, 2);
    }

    @Test
    void aReadThatTimesOutGetsNothingLater() throws Exception {
        agent.feed(Frames.ready("a"));
        channel = open();
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        assertThatThrownBy(() -> channel.readFile("/f", 10, sink, Duration.ofMillis(100)))
                .isInstanceOf(TimeoutException.class).hasMessage("reading /f did not finish in time");
        agent.feed(Frames.concat(Frames.fileData(1, new byte[3]), Frames.fileDone(1, 0)));
        CompletableFuture<Boolean> next = async(() -> channel.readFile("/g", 10, sink, WAIT));
        awaitHostFrames(2);
        agent.feed(Frames.fileDone(2, 0));
        assertThat(next.get(10, TimeUnit.SECONDS)).isFalse();
        assertThat(sink.size()).isZero();
    }

    @Test
    void aListingAndADeleteError() throws Exception {
        agent.feed(Frames.ready("a"));
        channel = open();
        CompletableFuture<DirectoryListing> list = async(() -> channel.listDirectory("/", 2, WAIT));
        awaitHostFrames(1);
        agent.feed(Frames.concat(Frames.fileEntry(1, 1, 4096, 7, "d".getBytes()),
                Frames.fileEntry(1, 0, 3, 8, "f".getBytes()), Frames.fileDone(1, 2)));
        assertThat(list.get(10, TimeUnit.SECONDS)).isEqualTo(new DirectoryListing(List.of(
                new FileEntry("d", true, FileEntry.Kind.DIRECTORY, 4096, 7),
                new FileEntry("f", true, FileEntry.Kind.FILE, 3, 8)), true));
        CompletableFuture<Void> delete = async(() -> {
            channel.deleteFile("/x", WAIT);
            return null;
        });
        awaitHostFrames(2);
        agent.feed(Frames.fileError(2, "/x does not exist"));
        assertThatThrownBy(() -> delete.get(10, TimeUnit.SECONDS)).cause().isInstanceOf(AgentFileException.class)
                .hasMessage("the agent could not delete /x: /x does not exist");
    }

    @Test
    void aHostileReplyEndsTheChannelAndTheWaitingCallerHearsWhy() throws Exception {
        agent.feed(Frames.ready("a"));
        channel = open();
        CompletableFuture<Boolean> read = async(() -> channel.readFile("/f", 2, new ByteArrayOutputStream(), WAIT));
        awaitHostFrames(1);
        agent.feed(Frames.fileData(1, new byte[3]));
        assertThatThrownBy(() -> read.get(10, TimeUnit.SECONDS)).cause().isInstanceOf(AgentProtocolException.class)
                .hasMessage("frame 2: file_data for stream 1 beyond the 2 bytes the host asked for");
        assertThat(agent.isClosed()).isTrue();
        assertThatThrownBy(() -> channel.deleteFile("/f", WAIT)).isInstanceOf(IOException.class)
                .hasMessageStartingWith("the agent channel has ended: frame 2");
    }

    /** Mutated file replies: every waiting caller returns or hears one of the known failures, never hangs. */
    @Test
    void mutatedFileRepliesEndEveryOperationInAKnownWay() throws Exception {
        byte[] valid = Frames.concat(Frames.fileData(1, new byte[40]), Frames.fileDone(1, 0), Frames.fileEntry(2, "a"),
                Frames.fileEntry(2, "b"), Frames.fileDone(2, 2), Frames.fileError(3, "no"));
        Random random = new Random(14);
        for (int round = 0; round < 200; round++) {
            TestPipe pipe = new TestPipe();
            pipe.feed(Frames.ready("a"));
            ByteArrayOutputStream written = new ByteArrayOutputStream();
            try (AgentChannel fuzzed = AgentChannel.open("fuzz", pipe, written, HANDSHAKE)) {
                List<CompletableFuture<?>> calls = List.of(
                        async(() -> fuzzed.readFile("/a", 100, new ByteArrayOutputStream(), WAIT)),
                        async(() -> fuzzed.listDirectory("/", 2, WAIT)),
                        async(() -> {
                            fuzzed.deleteFile("/c", WAIT);
                            return null;
                        }));
                await().pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1)).atMost(WAIT)
                        .until(() -> Frames.hostFrames(written.toByteArray()).size() == 3);
                pipe.feed(FrameReaderTest.Mutations.mutate(valid, random));
                pipe.closeWrite();
                for (CompletableFuture<?> call : calls) {
                    try {
                        call.get(WAIT.toSeconds(), TimeUnit.SECONDS);
                    } catch (ExecutionException e) {
                        assertThat(e.getCause()).isInstanceOfAny(AgentProtocolException.class,
                                AgentGaveUpException.class, EOFException.class, AgentFileException.class);
                    }
                }
            }
        }
    }

    @Test
    void listenForEgressWaitsForNetStatusAndAViolationOnAConnectionEndsTheChannel() throws Exception {
        agent.feed(Frames.ready("a"));
        channel = open();
        assertThatThrownBy(() -> channel.listenForEgress(3128, c -> { }, Duration.ofMillis(200)))
                .isInstanceOf(TimeoutException.class).hasMessage("the agent did not answer net_listen within 200 ms");
        assertThat(awaitHostFrames(1).getFirst().payload()).containsExactly(0x0c, 0x38);
        assertThatThrownBy(() -> channel.listenForEgress(3128, c -> { }, WAIT))
                .isInstanceOf(IllegalStateException.class);

        TestPipe refusing = new TestPipe();
        refusing.feed(Frames.ready("a"));
        try (AgentChannel refused = AgentChannel.open("refused", refusing, new ByteArrayOutputStream(), HANDSHAKE)) {
            CompletableFuture<Object> listen = async(() -> {
                refused.listenForEgress(80, c -> { }, WAIT);
                return null;
            });
            Thread.sleep(100);  // a net_status before the net_listen would be a violation
            refusing.feed(Frames.netStatus(1, "Address in use"));
            assertThatThrownBy(() -> listen.get(10, TimeUnit.SECONDS)).cause()
                    .isInstanceOf(AgentListenException.class)
                    .hasMessage("the agent could not listen on 127.0.0.1:80: Address in use");
            assertThat(refused.endCause()).isEmpty();
        }

        TestPipe relaying = new TestPipe();
        relaying.feed(Frames.ready("a"));
        BlockingQueue<AgentConnection> accepted = new LinkedBlockingQueue<>();
        try (AgentChannel relay = AgentChannel.open("relay", relaying, new ByteArrayOutputStream(), HANDSHAKE)) {
            CompletableFuture<Object> listen = async(() -> {
                relay.listenForEgress(3128, accepted::add, WAIT);
                return null;
            });
            Thread.sleep(100);
            relaying.feed(Frames.netStatus(0, ""));
            listen.get(10, TimeUnit.SECONDS);
            relaying.feed(Frames.concat(Frames.connOpen(AgentProtocol.FIRST_CONNECTION),
                    Frames.connData(AgentProtocol.FIRST_CONNECTION, new byte[1]),
                    Frames.connData(AgentProtocol.FIRST_CONNECTION, new byte[1])));
            AgentConnection c = accepted.poll(10, TimeUnit.SECONDS);
            assertThat(c).isNotNull();
            await().atMost(WAIT).until(() -> relay.endCause().isPresent());
            assertThat(relay.endCause().orElseThrow()).isInstanceOf(AgentProtocolException.class).hasMessage(
                    "frame 5: conn_data for connection 2147483649 before the host's conn_ack of the one before");
            assertThatThrownBy(() -> c.input().read()).hasMessageStartingWith("the agent channel has ended: frame 5");
            assertThatThrownBy(() -> c.output().write(1)).isInstanceOf(IOException.class);
        }
    }

    private <T> CompletableFuture<T> async(Callable<T> call) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try {
                result.complete(call.call());
            } catch (Exception e) {
                result.completeExceptionally(e);
            }
        });
        return result;
    }

    private List<Frames.HostFrame> awaitHostFrames(int count) {
        await().atMost(WAIT).until(() -> Frames.hostFrames(toAgent.toByteArray()).size() >= count);
        return Frames.hostFrames(toAgent.toByteArray());
    }

    private AgentChannel open() throws IOException {
        return AgentChannel.open("test", agent, toAgent, HANDSHAKE);
    }
}
