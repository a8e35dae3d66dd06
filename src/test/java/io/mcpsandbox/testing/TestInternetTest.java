package io.mcpsandbox.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.network.NameResolver;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The test internet from the host: HTTP and HTTPS answer at its address and log what they got and sent (the wire
 * bytes equal what a relay in front of them counted), {@code /bytes/<n>} is exact, pip on this machine installs
 * {@code mcp-hello} from its index, and close() leaves nothing. Names reach the fixture only through a CONNECT
 * proxy of this test on the host's loopback that maps {@link TestInternet#NAMES} to its address (as the policy
 * point will with {@code network.resolve}); the machine's DNS is never asked.
 */
@SystemTest
class TestInternetTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static TestInternet internet;
    private static NameMappingProxy proxy;

    @BeforeAll
    static void start() throws Exception {
        internet = TestInternet.start();
        proxy = new NameMappingProxy(internet);
    }

    @AfterAll
    static void stop() throws Exception {
        if (proxy != null) {
            proxy.close();
        }
        if (internet != null) {
            internet.close();
        }
    }

    @BeforeEach
    void routeIsOurs() throws Exception {
        internet.assertRouteIsOurs();
    }

    @Test
    void httpGetIsServedAndLoggedWithItsExactBytes() throws Exception {
        Files.writeString(internet.docroot().resolve("hello.txt"), "hello, test internet\n");
        byte[] request = ("GET /hello.txt?x=1 HTTP/1.1\r\nHost: allowed.test\r\nX-Probe: one\r\nX-Probe: two\r\n"
                + "Connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        byte[] response = exchange(internet.address(), 80, request);

        assertThat(new String(response, StandardCharsets.US_ASCII)).startsWith("HTTP/1.1 200 ")
                .endsWith("\r\n\r\nhello, test internet\n");
        TestInternet.Request logged = internet.awaitRequests(r -> "/hello.txt?x=1".equals(r.path()), 1).getFirst();
        assertThat(logged.scheme()).isEqualTo("http");
        assertThat(logged.sni()).isNull();
        assertThat(logged.method()).isEqualTo("GET");
        assertThat(logged.host()).isEqualTo("allowed.test");
        assertThat(logged.headers("x-probe")).containsExactly("one", "two");
        assertThat(logged.head()).isEqualTo(request);
        assertThat(logged.bytesReceived()).isEqualTo(request.length);
        assertThat(logged.bytesSent()).isEqualTo(response.length);
        assertThat(logged.status()).isEqualTo(200);
        TestInternet.Connection connection = internet.awaitConnections(c -> c.id() == logged.connection(), 1)
                .getFirst();
        assertThat(connection.bytesReceived()).isEqualTo(request.length);
        assertThat(connection.bytesSent()).isEqualTo(response.length);
        assertThat(connection.requests()).isEqualTo(1);
    }

    @Test
    void twoRequestsOnOneConnectionAreLoggedApartAndTheirBytesAddUpToTheWire() throws Exception {
        byte[] first = ascii("POST /echo HTTP/1.1\r\nHost: api.test\r\nContent-Length: 5\r\n\r\nabcde");
        byte[] second = ascii("GET /echo-headers HTTP/1.1\r\nHost: api.test\r\nX-Second: yes\r\n"
                + "Connection: close\r\n\r\n");
        byte[] both = new byte[first.length + second.length];
        System.arraycopy(first, 0, both, 0, first.length);
        System.arraycopy(second, 0, both, first.length, second.length);
        byte[] response = exchange(internet.address(), 80, both);

        TestInternet.Request secondLogged = internet.awaitRequests(r -> r.header("x-second").isPresent(), 1).getFirst();
        TestInternet.Request firstLogged = internet.requests().stream()
                .filter(r -> r.connection() == secondLogged.connection() && "/echo".equals(r.path())).findFirst()
                .orElseThrow();
        assertThat(firstLogged.body()).isEqualTo(ascii("abcde"));
        assertThat(firstLogged.bytesReceived()).isEqualTo(first.length);
        assertThat(secondLogged.bytesReceived()).isEqualTo(second.length);
        assertThat(firstLogged.bytesSent() + secondLogged.bytesSent()).isEqualTo(response.length);
        TestInternet.Connection connection = internet.awaitConnections(c -> c.id() == secondLogged.connection(), 1)
                .getFirst();
        assertThat(connection.requests()).isEqualTo(2);
        assertThat(connection.bytesReceived()).isEqualTo(both.length);
        assertThat(connection.bytesSent()).isEqualTo(response.length);
    }

    @Test
    void malformedCountsAndBodiesAreRefused() throws Exception {
        for (String count : List.of("-1", "abc", "2147483649", "1e3", "")) {
            assertThat(status(("GET /bytes/" + count + " HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")))
                    .as(count).isEqualTo("400");
        }
        assertThat(status("POST /echo HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\n"
                + "Connection: close\r\n\r\n5\r\nabcde\r\n0\r\n\r\n")).isEqualTo("411");
        assertThat(status("POST /echo HTTP/1.1\r\nHost: api.test\r\nContent-Length: -5\r\nConnection: close\r\n\r\n"))
                .isEqualTo("400");
        assertThat(status("POST /echo HTTP/1.1\r\nHost: api.test\r\nContent-Length: 99999999999\r\n"
                + "Connection: close\r\n\r\n")).isEqualTo("400");
    }

    private static String status(String request) throws IOException {
        String response = new String(exchange(internet.address(), 80, ascii(request)), StandardCharsets.US_ASCII);
        return response.length() >= 12 ? response.substring(9, 12) : response;
    }

    @Test
    void aPathOutOfTheDocrootIsNotServed() throws Exception {
        // The CA's key lies next to the docroot: neither a dot-dot path nor an encoded one reaches it.
        for (String path : List.of("/../ca.key", "/%2e%2e/ca.key", "/simple/../../ca.key", "/..%2fca.key")) {
            byte[] response = exchange(internet.address(), 80, ("GET " + path + " HTTP/1.1\r\nHost: api.test\r\n"
                    + "Connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            assertThat(new String(response, StandardCharsets.US_ASCII)).as(path).startsWith("HTTP/1.1 404 ")
                    .doesNotContain("PRIVATE KEY");
        }
    }

    @Test
    void httpsWithTheCaTrustedIsServedAndItsWireBytesEqualWhatARelayCounted() throws Exception {
        NameMappingProxy.Tunnel tunnel;
        String answer;
        try (Socket raw = proxy.connect("api.test", 443)) {
            SSLSocket tls = (SSLSocket) internet.sslContext().getSocketFactory()
                    .createSocket(raw, "api.test", 443, true);
            SSLParameters parameters = tls.getSSLParameters();
            parameters.setEndpointIdentificationAlgorithm("HTTPS");
            tls.setSSLParameters(parameters);
            tls.getOutputStream().write(("GET /echo-headers HTTP/1.1\r\nHost: api.test\r\nX-Secret: s3\r\n"
                    + "Connection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            tls.getOutputStream().flush();
            answer = new String(tls.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            tls.close();
        }
        assertThat(answer).startsWith("HTTP/1.1 200 ");
        JsonNode echoed = JSON.readTree(answer.substring(answer.indexOf("\r\n\r\n") + 4));
        assertThat(echoed.get("sni").asString()).isEqualTo("api.test");
        assertThat(echoed.get("headers").toString()).contains("[\"X-Secret\",\"s3\"]");

        TestInternet.Request logged = internet.awaitRequests(r -> "/echo-headers".equals(r.path())
                && "api.test".equals(r.sni()), 1).getFirst();
        assertThat(logged.scheme()).isEqualTo("https");
        assertThat(logged.header("x-secret")).contains("s3");
        TestInternet.Connection connection = internet.awaitConnections(c -> c.id() == logged.connection(), 1)
                .getFirst();
        tunnel = proxy.awaitTunnel("api.test", 1).getFirst();
        assertThat(connection.sni()).isEqualTo("api.test");
        assertThat(connection.failure()).isNull();
        // Wire bytes: the TLS records both ways, the same on both ends of the relay, and more than the plain text.
        assertThat(connection.bytesReceived()).isEqualTo(tunnel.up().get()).isGreaterThan(logged.bytesReceived());
        assertThat(connection.bytesSent()).isEqualTo(tunnel.down().get()).isGreaterThan(logged.bytesSent());
    }

    @Test
    void anUntrustedClientFailsTheHandshakeAndTheConnectionIsLoggedAsFailed() throws Exception {
        try (Socket raw = proxy.connect("blocked.test", 443)) {
            // Not TLS at all: the server's handshake fails and it says so.
            raw.getOutputStream().write("GET / HTTP/1.1\r\nHost: blocked.test\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            raw.getInputStream().readAllBytes();
        }
        NameMappingProxy.Tunnel tunnel = proxy.awaitTunnel("blocked.test", 1).getFirst();
        TestInternet.Connection failed = internet.awaitConnections(c -> c.failure() != null
                && c.bytesReceived() == tunnel.up().get(), 1).getFirst();
        assertThat(failed.failure()).startsWith("handshake");
        assertThat(failed.requests()).isZero();
    }

    @Test
    void bytesAnswersExactlyThatManyBytes() throws Exception {
        int n = 1 << 20;
        HttpClient client = HttpClient.newBuilder().proxy(HttpClient.Builder.NO_PROXY).build();
        HttpResponse<byte[]> response = client.send(HttpRequest.newBuilder(
                URI.create("http://" + internet.address() + "/bytes/" + n)).build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertThat(response.statusCode()).isEqualTo(200);
        byte[] body = response.body();
        assertThat(body).hasSize(n);
        for (int i = 0; i < n; i++) {
            assertThat(body[i]).as("byte %d", i).isEqualTo((byte) i);
        }
        TestInternet.Request logged = internet.awaitRequests(r -> ("/bytes/" + n).equals(r.path()), 1).getFirst();
        assertThat(logged.bytesSent()).isEqualTo(n + logged.responseHead().length);
    }

    @Test
    void theIndexLinksTheWheelWithItsSha256AndTheWheelIsAValidZip(@TempDir Path work) throws Exception {
        String page = new String(httpsGet("pypi.test", "/simple/mcp-hello/"), StandardCharsets.UTF_8);
        Matcher link = Pattern.compile(
                "href=\"https://files\\.pypi\\.test(/packages/[^\"#]+)#sha256=([0-9a-f]{64})\"").matcher(page);
        assertThat(link.find()).as(page).isTrue();
        byte[] wheel = httpsGet("files.pypi.test", link.group(1));
        assertThat(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(wheel)))
                .isEqualTo(link.group(2)).isEqualTo(internet.wheelSha256());
        Path file = Files.write(work.resolve(TestInternet.WHEEL), wheel);
        assertThat(run(List.of("python3", "-m", "zipfile", "-t", file.toString()), Map.of()).exitCode()).isZero();
        assertThat(run(List.of("python3", "-m", "zipfile", "-l", file.toString()), Map.of()).output())
                .contains("mcp_hello/__init__.py", "mcp_hello-0.1.0.dist-info/RECORD");
    }

    @Test
    void pipOnThisMachineInstallsMcpHelloFromTheIndex(@TempDir Path work) throws Exception {
        assumeTrue(run(List.of("python3", "-m", "pip", "--version"), Map.of()).exitCode() == 0,
                "python3 -m pip is not installed on this machine");
        Path target = work.resolve("target");
        int tunnelsBefore = proxy.targets().size();
        Result pip = run(List.of("python3", "-m", "pip", "install", "--isolated", "--no-cache-dir",
                "--disable-pip-version-check", "--no-deps", "--only-binary", ":all:",
                "--proxy", "http://127.0.0.1:" + proxy.port(), "--cert", internet.caFile().toString(),
                "--index-url", TestInternet.indexUrl(), "--target", target.toString(), TestInternet.PACKAGE),
                Map.of());
        assertThat(pip.exitCode()).as(pip.output()).isZero();
        Result hello = run(List.of("python3", "-c", "import mcp_hello; print(mcp_hello.hello())"),
                Map.of("PYTHONPATH", target.toString()));
        assertThat(hello.output().strip()).isEqualTo(TestInternet.HELLO);
        List<String> targets = proxy.targets();
        assertThat(targets.subList(tunnelsBefore, targets.size())).as("pip asked for nothing else")
                .containsOnly("pypi.test:443", "files.pypi.test:443");
        assertThat(internet.awaitRequests(r -> "files.pypi.test".equals(r.sni())
                && ("/packages/" + TestInternet.WHEEL).equals(r.path()), 1).getFirst().status()).isEqualTo(200);
    }

    @Test
    void resolveSettingAnswersEveryNameWithTheAddressThroughNameResolver() throws Exception {
        Properties properties = new Properties();
        properties.setProperty(NameResolver.SETTING, internet.resolveSetting());
        NameResolver resolver = new NameResolver(new Settings(properties, Map.of()));
        for (String name : TestInternet.NAMES) {
            assertThat(resolver.resolve(name)).as(name).containsExactly(InetAddress.getByName(internet.address()));
        }
    }

    @Test
    void closeLeavesNoNamespaceVethProcessOrDirectory() throws Exception {
        TestInternet other = TestInternet.start();
        String namespace = other.namespace();
        String veth = other.hostVeth();
        String network = other.address().substring(0, other.address().lastIndexOf('.') + 1);
        ProcessHandle server = other.serverProcess().orElseThrow();
        Path directory = other.directory();
        assertThat(other.address()).isNotEqualTo(internet.address());
        assertThat(server.isAlive()).isTrue();
        assertThat(HostCommands.run("ip", "netns", "list")).contains(namespace);

        other.close();

        assertThat(HostCommands.run("ip", "netns", "list")).doesNotContain(namespace);
        assertThat(HostCommands.run("ip", "link", "show")).doesNotContain(veth);
        assertThat(HostCommands.run("ip", "-o", "-4", "addr", "show")).doesNotContain(" " + network);
        assertThat(server.isAlive()).isFalse();
        assertThat(directory).doesNotExist();
        assertThat(Files.exists(Path.of("/run/netns", namespace))).isFalse();
    }

    private static byte[] exchange(String address, int port, byte[] request) throws IOException {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(address, port), 5000);
            socket.setSoTimeout(20_000);
            socket.getOutputStream().write(request);
            socket.getOutputStream().flush();
            return socket.getInputStream().readAllBytes();
        }
    }

    private static byte[] httpsGet(String name, String path) throws Exception {
        try (Socket raw = proxy.connect(name, 443)) {
            SSLSocket tls = (SSLSocket) internet.sslContext().getSocketFactory().createSocket(raw, name, 443, true);
            SSLParameters parameters = tls.getSSLParameters();
            parameters.setEndpointIdentificationAlgorithm("HTTPS");
            tls.setSSLParameters(parameters);
            tls.getOutputStream().write(ascii("GET " + path + " HTTP/1.1\r\nHost: " + name
                    + "\r\nConnection: close\r\n\r\n"));
            tls.getOutputStream().flush();
            byte[] response = tls.getInputStream().readAllBytes();
            tls.close();
            int bodyStart = indexOf(response, "\r\n\r\n".getBytes(StandardCharsets.US_ASCII)) + 4;
            assertThat(new String(response, 0, bodyStart, StandardCharsets.US_ASCII)).startsWith("HTTP/1.1 200 ");
            return Arrays.copyOfRange(response, bodyStart, response.length);
        }
    }

    private static int indexOf(byte[] data, byte[] part) {
        for (int i = 0; i + part.length <= data.length; i++) {
            if (Arrays.equals(data, i, i + part.length, part, 0, part.length)) {
                return i;
            }
        }
        throw new AssertionError("no end of head in the response");
    }

    private static byte[] ascii(String text) {
        return text.getBytes(StandardCharsets.US_ASCII);
    }

    private record Result(int exitCode, String output) {
    }

    /**
     * Runs a command on the host with no proxy, pip or CA settings from this machine's environment (requests
     * lets REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE win over pip's --cert).
     */
    private static Result run(List<String> command, Map<String, String> extraEnvironment) throws Exception {
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().keySet().removeIf(key -> key.toLowerCase(Locale.ROOT).endsWith("_proxy")
                || key.startsWith("PIP_") || key.startsWith("PYTHON") || key.endsWith("CA_BUNDLE")
                || key.startsWith("SSL_CERT_"));
        builder.environment().putAll(extraEnvironment);
        Process process = builder.start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).as(String.join(" ", command)).isTrue();
        return new Result(process.exitValue(), output);
    }

    /**
     * A CONNECT proxy on the host's loopback that maps the test internet's names to its address (and refuses any
     * other target with 403), counting the bytes it relays each way: what the policy point will do for a sandbox.
     */
    static final class NameMappingProxy implements AutoCloseable {
        record Tunnel(String target, AtomicLong up, AtomicLong down) {
        }

        private static final Pattern CONNECT = Pattern.compile("CONNECT ([a-z0-9.-]+):(80|443) HTTP/1\\.[01]");
        private final TestInternet internet;
        private final ServerSocket listener;
        private final ConcurrentLinkedQueue<Tunnel> tunnels = new ConcurrentLinkedQueue<>();
        private final ConcurrentLinkedQueue<Tunnel> finished = new ConcurrentLinkedQueue<>();

        NameMappingProxy(TestInternet internet) throws IOException {
            this.internet = internet;
            this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            Thread.ofVirtual().start(this::accept);
        }

        int port() {
            return listener.getLocalPort();
        }

        /** The target of every CONNECT so far, mapped or refused, in order. */
        List<String> targets() {
            return tunnels.stream().map(Tunnel::target).toList();
        }

        /** Waits until {@code count} tunnels to {@code name} are done both ways; returns them. */
        List<Tunnel> awaitTunnel(String name, int count) {
            await().atMost(Duration.ofSeconds(20)).until(() -> done(name).size() >= count);
            return done(name);
        }

        private List<Tunnel> done(String name) {
            return finished.stream().filter(t -> t.target().startsWith(name + ":")).collect(Collectors.toList());
        }

        /** A client socket to the proxy with a CONNECT for name:port answered 200. */
        Socket connect(String name, int port) throws IOException {
            Socket socket = new Socket(InetAddress.getLoopbackAddress(), port());
            socket.setSoTimeout(20_000);
            socket.getOutputStream().write(("CONNECT " + name + ":" + port + " HTTP/1.1\r\nHost: " + name + ":" + port
                    + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            assertThat(new String(readHead(socket.getInputStream()), StandardCharsets.US_ASCII))
                    .startsWith("HTTP/1.1 200 ");
            return socket;
        }

        private void accept() {
            while (!listener.isClosed()) {
                try {
                    Socket client = listener.accept();
                    Thread.ofVirtual().start(() -> serve(client));
                } catch (IOException e) {
                    return;
                }
            }
        }

        private void serve(Socket client) {
            try (client) {
                client.setSoTimeout(60_000);
                String head = new String(readHead(client.getInputStream()), StandardCharsets.US_ASCII);
                Matcher connect = CONNECT.matcher(head.substring(0, Math.max(0, head.indexOf("\r\n"))));
                if (!connect.matches()) {
                    client.getOutputStream().write(ascii("HTTP/1.1 400 Bad Request\r\n\r\n"));
                    return;
                }
                String name = connect.group(1);
                Tunnel tunnel = new Tunnel(name + ":" + connect.group(2), new AtomicLong(), new AtomicLong());
                tunnels.add(tunnel);
                if (!TestInternet.NAMES.contains(name)) {
                    client.getOutputStream().write(ascii("HTTP/1.1 403 Forbidden\r\n\r\n"));
                    return;
                }
                internet.assertRouteIsOurs();
                try (Socket upstream = new Socket()) {
                    upstream.connect(new InetSocketAddress(internet.address(), Integer.parseInt(connect.group(2))),
                            5000);
                    upstream.setSoTimeout(60_000);
                    client.getOutputStream().write("HTTP/1.1 200 Connection established\r\n\r\n"
                            .getBytes(StandardCharsets.US_ASCII));
                    Thread up = Thread.ofVirtual().start(() -> pump(client, upstream, tunnel.up()));
                    pump(upstream, client, tunnel.down());
                    up.join();
                }
                finished.add(tunnel);
            } catch (Exception e) {
                // The client or the server went away: the tunnel ends.
            }
        }

        private static void pump(Socket from, Socket to, AtomicLong counter) {
            byte[] buffer = new byte[65536];
            try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                int n;
                while ((n = in.read(buffer)) > 0) {
                    out.write(buffer, 0, n);
                    counter.addAndGet(n);
                }
                to.shutdownOutput();
            } catch (IOException e) {
                // Ends this direction; the other ends on its own.
            }
        }

        /** A request head up to its blank line, at most 16 KiB, read a byte at a time (nothing after it taken). */
        private static byte[] readHead(InputStream in) throws IOException {
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            while (head.size() < 16384) {
                int b = in.read();
                if (b < 0) {
                    break;
                }
                head.write(b);
                String text = head.toString(StandardCharsets.US_ASCII);
                if (text.endsWith("\r\n\r\n")) {
                    break;
                }
            }
            return head.toByteArray();
        }

        @Override
        public void close() throws IOException {
            listener.close();
        }
    }
}
