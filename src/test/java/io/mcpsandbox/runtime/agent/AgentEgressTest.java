package io.mcpsandbox.runtime.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.testing.SystemTest;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.BindException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The egress relay through the real agent ({@code agent/build/mcp-agent}) run as a plain child process: the test
 * is the sandbox's program (it connects to 127.0.0.1:port, the agent's listener, on this machine's loopback) and
 * the host (the listener gets every connection). Without the binary every test fails.
 */
@SystemTest
class AgentEgressTest {
    private static final Path AGENT = Path.of("agent/build/mcp-agent").toAbsolutePath();
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    @TempDir
    Path dir;
    private Process agent;
    private AgentChannel channel;
    private int port;
    private final BlockingQueue<AgentConnection> accepted = new LinkedBlockingQueue<>();
    private final List<Socket> sockets = new ArrayList<>();

    @BeforeEach
    void startAgentAndListen() throws Exception {
        if (!Files.isExecutable(AGENT)) {
            fail("agent binary missing: run make -C agent (looked for " + AGENT + ")");
        }
        agent = new ProcessBuilder(AGENT.toString()).redirectError(dir.resolve("agent.log").toFile()).start();
        channel = AgentChannel.open("egress-test", agent.getInputStream(), agent.getOutputStream(),
                Duration.ofSeconds(5));
        port = freePort();
        channel.listenForEgress(port, accepted::add, Duration.ofSeconds(5));
    }

    @AfterEach
    void stopAgent() throws Exception {
        for (Socket s : sockets) {
            s.close();
        }
        channel.close();
        agent.destroyForcibly();
        agent.waitFor(10, TimeUnit.SECONDS);
    }

    @Test
    void echoBothWays() throws Exception {
        Socket s = connect();
        AgentConnection c = next();
        assertThat(c.id()).isEqualTo(AgentProtocol.FIRST_CONNECTION);
        s.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
        byte[] got = new byte[4];
        assertThat(c.input().readNBytes(got, 0, 4)).isEqualTo(4);
        assertThat(got).asString(StandardCharsets.US_ASCII).isEqualTo("ping");
        c.output().write("pong!".getBytes(StandardCharsets.US_ASCII));
        assertThat(s.getInputStream().readNBytes(5)).asString(StandardCharsets.US_ASCII).isEqualTo("pong!");
        assertThat(channel.openConnections()).isEqualTo(1);
    }

    @Test
    void fiveMiBEachWayAtOnceArriveWhole() throws Exception {
        Socket s = connect();
        AgentConnection c = next();
        byte[] up = random(5 << 20, 1);
        byte[] down = random(5 << 20, 2);
        CompletableFuture<String> hostReads = async(() -> sha256(c.input()));
        CompletableFuture<Void> hostWrites = async(() -> {
            c.output().write(down);
            c.output().close();
            return null;
        });
        CompletableFuture<String> sandboxReads = async(() -> sha256(s.getInputStream()));
        s.getOutputStream().write(up);
        s.shutdownOutput();
        assertThat(hostReads.get(60, TimeUnit.SECONDS)).isEqualTo(sha256(up));
        assertThat(sandboxReads.get(60, TimeUnit.SECONDS)).isEqualTo(sha256(down));
        hostWrites.get(60, TimeUnit.SECONDS);
        // Both directions done: the agent closes the socket and says conn_closed.
        await().atMost(WAIT).until(() -> c.isClosed() && channel.openConnections() == 0);
    }

    @Test
    void theSandboxHalfClosesFirstAndStillReads() throws Exception {
        Socket s = connect();
        AgentConnection c = next();
        s.getOutputStream().write(7);
        s.shutdownOutput();
        assertThat(c.input().readAllBytes()).containsExactly(7);
        c.output().write("after".getBytes(StandardCharsets.US_ASCII));
        assertThat(s.getInputStream().readNBytes(5)).asString(StandardCharsets.US_ASCII).isEqualTo("after");
        c.output().close();
        assertThat(s.getInputStream().read()).isEqualTo(-1);
        await().atMost(WAIT).until(c::isClosed);
    }

    @Test
    void theHostHalfClosesFirstAndStillReads() throws Exception {
        Socket s = connect();
        AgentConnection c = next();
        c.output().close();
        assertThat(s.getInputStream().read()).isEqualTo(-1);
        assertThatThrownBy(() -> c.output().write(1)).isInstanceOf(IOException.class);
        s.getOutputStream().write("still".getBytes(StandardCharsets.US_ASCII));
        s.shutdownOutput();
        assertThat(c.input().readAllBytes()).asString(StandardCharsets.US_ASCII).isEqualTo("still");
        await().atMost(WAIT).until(c::isClosed);
    }

    @Test
    void theHostsCloseDropsTheSandboxsSocket() throws Exception {
        Socket s = connect();
        AgentConnection c = next();
        c.close();
        s.setSoTimeout(10_000);
        assertThat(readOrReset(s)).isEqualTo(-1);
        assertThatThrownBy(() -> c.input().read()).hasMessageContaining("was closed by the host");
        assertThat(channel.openConnections()).isZero();
        assertThat(channel.endCause()).isEmpty();
    }

    @Test
    void aResetInTheSandboxClosesTheConnection() throws Exception {
        Socket s = connect();
        AgentConnection c = next();
        s.setSoLinger(true, 0);
        s.close();
        assertThatThrownBy(() -> c.input().read()).isInstanceOf(IOException.class)
                .hasMessageContaining("was closed in the sandbox");
        await().atMost(WAIT).until(() -> channel.openConnections() == 0);
        assertThatThrownBy(() -> c.output().write(1)).isInstanceOf(IOException.class);
        assertThat(channel.endCause()).isEmpty();
    }

    @Test
    void the65thConnectionWaitsUntilOneCloses() throws Exception {
        for (int i = 0; i < 65; i++) {
            connect();  // the kernel's backlog completes the 65th handshake; the agent just does not accept it
        }
        List<AgentConnection> open = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            open.add(next());
        }
        assertThat(accepted.poll(500, TimeUnit.MILLISECONDS)).isNull();
        assertThat(channel.openConnections()).isEqualTo(64);
        open.getFirst().close();
        AgentConnection last = next();
        assertThat(Integer.toUnsignedLong(last.id())).isEqualTo(Integer.toUnsignedLong(
                AgentProtocol.FIRST_CONNECTION) + 64);
        sockets.getLast().getOutputStream().write(1);
        assertThat(last.input().read()).isEqualTo(1);
    }

    @Test
    void noOtherProcessCanBindThePort() throws Exception {
        try (ServerSocket other = new ServerSocket()) {
            other.setReuseAddress(true);
            assertThatThrownBy(() -> other.bind(new InetSocketAddress(LOOPBACK, port)))
                    .isInstanceOf(BindException.class);
        }
    }

    @Test
    void aTakenPortIsRefusedWithTheAgentsReason() throws Exception {
        Process second = new ProcessBuilder(AGENT.toString()).redirectError(dir.resolve("second.log").toFile())
                .start();
        try (AgentChannel other = AgentChannel.open("egress-taken", second.getInputStream(),
                second.getOutputStream(), Duration.ofSeconds(5))) {
            assertThatThrownBy(() -> other.listenForEgress(port, c -> { }, Duration.ofSeconds(5)))
                    .isInstanceOf(AgentListenException.class)
                    .hasMessageContaining("could not listen on 127.0.0.1:" + port)
                    .hasMessageContaining("in use");
            assertThatThrownBy(() -> other.listenForEgress(port, c -> { }, Duration.ofSeconds(5)))
                    .isInstanceOf(IllegalStateException.class);
            assertThat(other.endCause()).isEmpty();
        } finally {
            second.destroyForcibly();
            second.waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void theChannelsEndClosesEveryConnectionAndTheListener() throws Exception {
        Socket s = connect();
        AgentConnection c = next();
        CompletableFuture<Integer> blockedRead = async(() -> c.input().read());
        channel.close();
        assertThat(agent.waitFor(10, TimeUnit.SECONDS)).isTrue();
        s.setSoTimeout(10_000);
        assertThat(readOrReset(s)).isEqualTo(-1);
        assertThatThrownBy(() -> new Socket(LOOPBACK, port).close()).isInstanceOf(ConnectException.class);
        assertThatThrownBy(() -> blockedRead.get(10, TimeUnit.SECONDS)).hasRootCauseInstanceOf(IOException.class)
                .hasMessageContaining("the agent channel has ended");
    }

    /** Not a limit, a figure: 64 MiB each way through the relay, printed with the test's output. */
    @Test
    void throughputOf64MiB() throws Exception {
        Socket s = connect();
        AgentConnection c = next();
        byte[] block = random(1 << 20, 3);
        int mib = 64;
        long t0 = System.nanoTime();
        CompletableFuture<Long> hostReads = async(() -> c.input().transferTo(OutputStream.nullOutputStream()));
        for (int i = 0; i < mib; i++) {
            s.getOutputStream().write(block);
        }
        s.shutdownOutput();
        assertThat(hostReads.get(120, TimeUnit.SECONDS)).isEqualTo((long) mib << 20);
        double up = mib / ((System.nanoTime() - t0) / 1e9);
        long t1 = System.nanoTime();
        CompletableFuture<Long> sandboxReads = async(() -> s.getInputStream().transferTo(
                OutputStream.nullOutputStream()));
        for (int i = 0; i < mib; i++) {
            c.output().write(block);
        }
        c.output().close();
        assertThat(sandboxReads.get(120, TimeUnit.SECONDS)).isEqualTo((long) mib << 20);
        double down = mib / ((System.nanoTime() - t1) / 1e9);
        System.out.printf("agent relay throughput (64 MiB each way): sandbox->host %.0f MiB/s, host->sandbox "
                + "%.0f MiB/s%n", up, down);
    }

    private Socket connect() throws IOException {
        Socket s = new Socket(LOOPBACK, port);
        sockets.add(s);
        return s;
    }

    private AgentConnection next() throws InterruptedException {
        AgentConnection c = accepted.poll(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertThat(c).as("a connection from the agent").isNotNull();
        return c;
    }

    /** End of file, or a reset (the agent's close may send one when bytes were unread): both are the end. */
    private static int readOrReset(Socket s) throws IOException {
        try {
            return s.getInputStream().read();
        } catch (java.net.SocketException e) {
            return -1;
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket probe = new ServerSocket(0, 1, LOOPBACK)) {
            return probe.getLocalPort();
        }
    }

    private static byte[] random(int size, long seed) {
        byte[] data = new byte[size];
        new Random(seed).nextBytes(data);
        return data;
    }

    private static String sha256(byte[] data) throws NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }

    private static String sha256(InputStream in) throws IOException, NoSuchAlgorithmException {
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        byte[] buffer = new byte[70_000];
        for (int n; (n = in.read(buffer)) >= 0; ) {
            digest.update(buffer, 0, n);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    private interface Work<T> {
        T run() throws Exception;
    }

    private static <T> CompletableFuture<T> async(Work<T> work) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try {
                result.complete(work.run());
            } catch (Exception | AssertionError e) {
                result.completeExceptionally(e);
            }
        });
        return result;
    }
}
