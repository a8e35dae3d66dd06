package io.mcpsandbox.runtime.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The egress relay's rules, frame by frame: what the agent may say about net_listen and connections, and the
 * flow control of {@link AgentConnection}'s streams (the frames the host sends are recorded, not written).
 */
class ConnectionStateTest {
    private static final int FIRST = AgentProtocol.FIRST_CONNECTION;

    private final ChannelState state = new ChannelState();
    private final List<Frames.HostFrame> sent = Collections.synchronizedList(new ArrayList<>());
    private final List<AgentConnection> accepted = Collections.synchronizedList(new ArrayList<>());
    private long frameNumber;

    @Test
    void netStatusAnswersTheOneNetListen() throws IOException {
        accept(Frames.ready("a"));
        assertViolation(Frames.netStatus(0, ""), "frame 2: net_status without a net_listen");
        CompletableFuture<Optional<String>> status = listen();
        assertViolation(Frames.connOpen(FIRST), "frame 3: conn_open for connection 2147483649 before the agent "
                + "listens");
        accept(Frames.netStatus(1, "port\ntaken"));
        assertThat(status.join()).contains("port?taken");
        assertViolation(Frames.netStatus(0, ""), "frame 5: a second net_status");
        assertViolation(Frames.connOpen(FIRST), "frame 6: conn_open for connection 2147483649 before the agent "
                + "listens");
        assertThatThrownBy(this::listen).isInstanceOf(IllegalStateException.class)
                .hasMessage("this channel has sent its net_listen already");
    }

    @Test
    void netStatusAndConnectionFramesBeforeReadyAreViolations() {
        assertViolation(Frames.netStatus(0, ""), "frame 1: net_status before ready");
        assertViolation(Frames.connOpen(FIRST), "frame 2: conn_open for connection 2147483649 before ready");
    }

    @Test
    void connectionIdsOnlyGrowAndFramesNeedAnOpenedId() throws IOException {
        listening();
        assertViolation(Frames.connData(FIRST, new byte[1]),
                "frame 3: conn_data for connection 2147483649, which the agent never opened");
        accept(Frames.connOpen(FIRST + 4));
        assertThat(accepted).extracting(AgentConnection::id).containsExactly(FIRST + 4);
        assertViolation(Frames.connOpen(FIRST + 4),
                "frame 5: conn_open for connection 2147483653, not above the last connection id 2147483653");
        assertViolation(Frames.connOpen(FIRST + 1),
                "frame 6: conn_open for connection 2147483650, not above the last connection id 2147483653");
        assertViolation(Frames.connAck(FIRST + 5),
                "frame 7: conn_ack for connection 2147483654, which the agent never opened");
        assertViolation(Frames.connClosed(-1), "frame 8: conn_closed for connection 4294967295, which the agent "
                + "never opened");
        // Below the last one but never opened (the agent skipped it): as dead, its frames are ignored.
        accept(Frames.connData(FIRST, new byte[1]));
        accept(Frames.connOpen(-1));
        assertThat(accepted).hasSize(2);
    }

    @Test
    void atMost64ConnectionsAreOpen() throws IOException {
        listening();
        for (int i = 0; i < AgentProtocol.MAX_CONNECTIONS; i++) {
            accept(Frames.connOpen(FIRST + i));
        }
        assertViolation(Frames.connOpen(FIRST + 64),
                "frame 67: conn_open for connection 2147483713 while 64 are open (the limit)");
        accept(Frames.connClosed(FIRST));
        accepted.get(1).close();
        assertThat(state.openConnections()).isEqualTo(62);
        accept(Frames.connOpen(FIRST + 65));
        accept(Frames.connOpen(FIRST + 66));
        assertThat(state.openConnections()).isEqualTo(64);
    }

    @Test
    void theAgentSendsOneConnDataAtATimeAndNothingAfterItsEof() throws IOException {
        AgentConnection c = opened();
        accept(Frames.connData(FIRST, new byte[] {1, 2}));
        assertViolation(Frames.connData(FIRST, new byte[] {3}),
                "frame 5: conn_data for connection 2147483649 before the host's conn_ack of the one before");
        assertViolation(Frames.connEof(FIRST), "frame 6: conn_eof for connection 2147483649 before the host's "
                + "conn_ack");
        byte[] two = new byte[2];
        assertThat(c.input().read(two)).isEqualTo(2);
        assertThat(sent).extracting(Frames.HostFrame::type).containsExactly(0x11);   // conn_ack once all is taken
        accept(Frames.connData(FIRST, new byte[] {3}));
        assertThat(c.input().read()).isEqualTo(3);
        accept(Frames.connEof(FIRST));
        assertThat(c.input().read()).isEqualTo(-1);
        assertThat(c.input().read()).isEqualTo(-1);
        assertViolation(Frames.connData(FIRST, new byte[1]), "frame 9: conn_data for connection 2147483649 after "
                + "its conn_eof");
        assertViolation(Frames.connEof(FIRST), "frame 10: conn_eof for connection 2147483649 twice");
    }

    @Test
    void aPartlyReadFrameIsNotAcknowledged() throws IOException {
        AgentConnection c = opened();
        accept(Frames.connData(FIRST, new byte[] {1, 2, 3}));
        assertThat(c.input().read()).isEqualTo(1);
        assertThat(c.input().available()).isEqualTo(2);
        assertThat(sent).isEmpty();
        assertThat(c.input().read(new byte[10], 0, 10)).isEqualTo(2);
        assertThat(sent).hasSize(1);
    }

    @Test
    void anAckNeedsAConnDataInFlight() throws Exception {
        AgentConnection c = opened();
        assertViolation(Frames.connAck(FIRST), "frame 4: conn_ack for connection 2147483649 with no conn_data in "
                + "flight");
        c.output().write(new byte[] {9});
        accept(Frames.connAck(FIRST));
        assertViolation(Frames.connAck(FIRST), "frame 6: conn_ack for connection 2147483649 with no conn_data in "
                + "flight");
    }

    @Test
    void theOutputWaitsForEachAckAndSplitsAt64KiB() throws Exception {
        AgentConnection c = opened();
        byte[] data = new byte[2 * AgentProtocol.MAX_PAYLOAD + 5];
        CompletableFuture<Void> write = CompletableFuture.runAsync(() -> {
            try {
                c.output().write(data);
                c.output().close();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        await().atMost(Duration.ofSeconds(10)).until(() -> sent.size() == 1);
        Thread.sleep(100);
        assertThat(sent).as("no second conn_data before the agent's conn_ack").hasSize(1);
        accept(Frames.connAck(FIRST));
        await().atMost(Duration.ofSeconds(10)).until(() -> sent.size() == 2);
        accept(Frames.connAck(FIRST));
        write.get(10, TimeUnit.SECONDS);
        assertThat(sent).extracting(f -> f.payload().length).containsExactly(65536, 65536, 5, 0);
        assertThat(sent).extracting(Frames.HostFrame::type).containsExactly(0x0e, 0x0e, 0x0e, 0x0f);
        assertThat(sent).extracting(Frames.HostFrame::stream).containsOnly(FIRST);
        assertThatThrownBy(() -> c.output().write(1)).isInstanceOf(IOException.class)
                .hasMessage("the output of connection 2147483649 is closed");
        c.output().close();
        assertThat(sent).hasSize(4);
    }

    @Test
    void framesForADeadIdAreIgnoredAndItsStreamsFail() throws Exception {
        AgentConnection c = opened();
        c.output().write(new byte[] {1});
        c.close();
        c.close();
        assertThat(sent).extracting(Frames.HostFrame::type).containsExactly(0x0e, 0x10);
        accept(Frames.connAck(FIRST));
        accept(Frames.connData(FIRST, new byte[1]));
        accept(Frames.connEof(FIRST));
        accept(Frames.connClosed(FIRST));
        assertThatThrownBy(() -> c.input().read()).hasMessage("connection 2147483649 was closed by the host");
        assertThatThrownBy(() -> c.output().write(1)).hasMessage("connection 2147483649 was closed by the host");
        assertThat(sent).hasSize(2);
        assertThat(state.openConnections()).isZero();
    }

    @Test
    void conn_closedLeavesWhatArrivedReadableThenFails() throws Exception {
        AgentConnection c = opened();
        accept(Frames.connData(FIRST, new byte[] {5}));
        accept(Frames.connClosed(FIRST));
        assertThat(c.isClosed()).isTrue();
        assertThat(c.input().read()).isEqualTo(5);
        assertThat(sent).as("no ack for a dead id").isEmpty();
        assertThatThrownBy(() -> c.input().read()).hasMessage("connection 2147483649 was closed in the sandbox");
        assertThatThrownBy(() -> c.output().write(1)).hasMessage("connection 2147483649 was closed in the sandbox");
        accept(Frames.connData(FIRST, new byte[1]));   // in flight before its conn_closed: ignored
        c.close();
        assertThat(sent).isEmpty();
    }

    @Test
    void theChannelsEndReleasesEveryWait() throws Exception {
        AgentConnection c = opened();
        CompletableFuture<Throwable> reader = failure(() -> c.input().read());
        c.output().write(new byte[] {1});
        CompletableFuture<Throwable> writer = failure(() -> c.output().write(new byte[] {2}));
        Thread.sleep(100);
        assertThat(reader).isNotDone();
        assertThat(writer).isNotDone();
        IOException cause = new IOException("gone");
        state.end(cause);
        state.failConnections();
        assertThat(reader.get(10, TimeUnit.SECONDS)).hasMessage("the agent channel has ended: gone");
        assertThat(writer.get(10, TimeUnit.SECONDS)).hasMessage("the agent channel has ended: gone");
        assertThat(state.openConnections()).isZero();
        accept(Frames.connData(FIRST, new byte[1]));
    }

    @Test
    void aListenerThatThrowsGetsItsConnectionClosed() throws Exception {
        accept(Frames.ready("a"));
        state.requestListen(connection -> {
            throw new IllegalStateException("no");
        }, frame -> sent.addAll(Frames.hostFrames(frame)));
        accept(Frames.netStatus(0, ""));
        accept(Frames.connOpen(FIRST));
        await().atMost(Duration.ofSeconds(10)).until(() -> sent.size() == 1);
        assertThat(sent.getFirst().type()).isEqualTo(0x10);
        assertThat(state.openConnections()).isZero();
    }

    private interface Action {
        void run() throws IOException;
    }

    private static CompletableFuture<Throwable> failure(Action action) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                action.run();
                return null;
            } catch (IOException e) {
                return e;
            }
        });
    }

    private CompletableFuture<Optional<String>> listen() throws IOException {
        return state.requestListen(accepted::add, frame -> sent.addAll(Frames.hostFrames(frame)));
    }

    /** Ready, net_listen and net_status 0: frames 1 and 2. */
    private void listening() throws IOException {
        accept(Frames.ready("a"));
        CompletableFuture<Optional<String>> status = listen();
        accept(Frames.netStatus(0, ""));
        assertThat(status.join()).isEmpty();
    }

    /** Listening with connection FIRST open: frames 1 .. 3. */
    private AgentConnection opened() throws IOException {
        listening();
        accept(Frames.connOpen(FIRST));
        return accepted.getFirst();
    }

    private void accept(byte[] bytes) throws IOException {
        state.accept(++frameNumber, new FrameReader(new ByteArrayInputStream(bytes)).next().orElseThrow());
    }

    private void assertViolation(byte[] bytes, String message) {
        assertThatThrownBy(() -> accept(bytes)).isInstanceOf(AgentProtocolException.class).hasMessage(message);
    }
}
