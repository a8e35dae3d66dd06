package io.mcpsandbox.network;

import static io.mcpsandbox.testing.HostCommands.run;
import static io.mcpsandbox.testing.HostCommands.runQuietly;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.model.NetworkIO;
import io.mcpsandbox.testing.HostCommands;
import io.mcpsandbox.testing.SystemTest;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * EgressProxy end to end: the sandbox's side is a loopback socket pair (the agent relay is not needed), the
 * upstream HTTP (:80) and HTTPS (:443) servers run in a network namespace this test creates (veth
 * 198.18.93.1/30 on the host, 198.18.93.2/30 in the namespace; the route is checked to be ours). Names resolve
 * only through network.resolve. The servers count the raw TCP bytes of every connection.
 */
@SystemTest
class EgressProxySystemTest {
    private static final String NETWORK = "198.18.93";
    private static final String SERVER_ADDRESS = NETWORK + ".2";
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final String SECRET = "server-secret-123";

    @TempDir
    static Path work;
    private static String namespace;
    private static String hostVeth;
    private static Process server;
    private static Path requestLog;
    private static SSLContext tls;
    private static EgressResolver resolver;
    private static ServerSocket sandboxSide;
    private static volatile EgressProxy current;
    private final List<String> events = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void startTheInternet() throws Exception {
        String suffix = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()).substring(2);
        namespace = "mcpep-" + suffix;
        hostVeth = "eph" + suffix;
        String nsVeth = "epn" + suffix;
        HostCommands.namespaceWithVeth(namespace, hostVeth, nsVeth, NETWORK + ".1", SERVER_ADDRESS);
        assertRouteIsOurs();

        Path cert = work.resolve("cert.pem");
        Path key = work.resolve("key.pem");
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-days", "2", "-subj", "/CN=api.test", "-addext",
                "subjectAltName=DNS:api.test,DNS:other.test", "-keyout", key.toString(), "-out", cert.toString());
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        try (InputStream in = Files.newInputStream(cert)) {
            trust.setCertificateEntry("test", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(trust);
        tls = SSLContext.getInstance("TLS");
        tls.init(null, factory.getTrustManagers(), null);

        Path script = work.resolve("server.py");
        try (InputStream in = EgressProxySystemTest.class.getResourceAsStream("egress_test_server.py")) {
            Files.write(script, in.readAllBytes());
        }
        requestLog = work.resolve("requests.jsonl");
        Files.createFile(requestLog);
        Path ready = work.resolve("ready");
        server = new ProcessBuilder("ip", "netns", "exec", namespace, "python3", script.toString(), SERVER_ADDRESS,
                cert.toString(), key.toString(), requestLog.toString(), ready.toString())
                .redirectErrorStream(true).redirectOutput(work.resolve("server.out").toFile()).start();
        await().atMost(Duration.ofSeconds(20)).until(() -> Files.exists(ready) || !server.isAlive());
        assertThat(server.isAlive()).as(Files.readString(work.resolve("server.out"))).isTrue();

        Properties file = new Properties();
        file.setProperty(NameResolver.SETTING, "api.test=" + SERVER_ADDRESS + ",other.test=" + SERVER_ADDRESS
                + ",rebind.test=127.0.0.1");
        resolver = new EgressResolver(new NameResolver(new Settings(file, Map.of())), List.of());

        // The sandbox's side: each accepted loopback connection is served by the current proxy.
        sandboxSide = new ServerSocket(0, 100, InetAddress.getLoopbackAddress());
        Thread.ofVirtual().start(() -> {
            while (!sandboxSide.isClosed()) {
                try {
                    Socket accepted = sandboxSide.accept();
                    EgressProxy proxy = current;
                    Thread.ofVirtual().start(() -> proxy.serve(inputOf(accepted), halfClosing(accepted), accepted));
                } catch (IOException e) {
                    return;
                }
            }
        });
    }

    @AfterAll
    static void removeTheInternet() throws Exception {
        if (sandboxSide != null) {
            sandboxSide.close();
        }
        if (server != null) {
            server.destroyForcibly();
            server.waitFor(10, TimeUnit.SECONDS);
        }
        if (namespace != null) {
            runQuietly("ip", "link", "del", hostVeth);
            runQuietly("ip", "netns", "del", namespace);
            assertThat(run("ip", "netns", "list")).doesNotContain(namespace);
        }
    }

    private EgressProxy proxy(long maxBytes, long bandwidth, Duration headTimeout) {
        EgressPolicy policy = new EgressPolicy(List.of(DomainPattern.parse("api.test"),
                DomainPattern.parse("other.test"), DomainPattern.parse("rebind.test")), List.of(), Set.of(80, 443),
                Map.of("api.test", List.of(new SecretHeader("X-Api-Token", SECRET))), 32, maxBytes, bandwidth);
        EgressProxy proxy = new EgressProxy(policy, resolver, new AddressPolicy(),
                (target, reason) -> events.add(target + " " + reason), headTimeout);
        current = proxy;
        return proxy;
    }

    private EgressProxy proxy() {
        return proxy(1L << 30, 0, Duration.ofSeconds(30));
    }

    @Test
    void httpAndHttpsBytesMatchWhatTheServerSaw() throws Exception {
        try (EgressProxy proxy = proxy()) {
            int before = settledRequestCount();
            byte[] plain = exchange("GET http://api.test/bytes/1048576 HTTP/1.1\r\nHost: api.test\r\n\r\n");
            assertThat(body(plain)).hasSize(1 << 20);
            byte[] secure = httpsGet("api.test", "api.test", "/bytes/1048576", "");
            assertThat(body(secure)).hasSize(1 << 20);
            byte[] upload = new byte[256 * 1024];
            byte[] posted = exchange("POST http://api.test/upload HTTP/1.1\r\nHost: api.test\r\nContent-Length: "
                    + upload.length + "\r\n\r\n", upload);
            assertThat(new String(body(posted), StandardCharsets.US_ASCII)).isEqualTo("ok");

            List<JsonNode> seen = awaitRequests(before + 3).subList(before, before + 3);
            long serverIn = seen.stream().mapToLong(r -> r.get("raw_in").asLong()).sum();
            long serverOut = seen.stream().mapToLong(r -> r.get("raw_out").asLong()).sum();
            NetworkIO usage = proxy.usage();
            assertThat((double) usage.bytesSent()).isCloseTo(serverIn, Percentage.withPercentage(5));
            assertThat((double) usage.bytesReceived()).isCloseTo(serverOut, Percentage.withPercentage(5));
            assertThat(usage.bytesSent()).isGreaterThan(upload.length);
            assertThat(usage.bytesReceived()).isGreaterThan(2L << 20);
            assertThat(events).isEmpty();
        }
    }

    @Test
    void secretHeaderIsInjectedOnPlainHttpReplacingTheSandboxsAndNeverOnHttps() throws Exception {
        try (EgressProxy ignored = proxy()) {
            byte[] plain = exchange("GET http://api.test/echo-headers HTTP/1.1\r\nHost: api.test\r\n"
                    + "x-api-token: from-sandbox\r\nProxy-Authorization: Basic eA==\r\n\r\n");
            JsonNode headers = JSON.readTree(body(plain));
            List<String> tokens = new ArrayList<>();
            headers.forEach(h -> {
                if (h.get(0).asString().equalsIgnoreCase("x-api-token")) {
                    tokens.add(h.get(1).asString());
                }
                assertThat(h.get(0).asString().toLowerCase()).doesNotStartWith("proxy-");
            });
            assertThat(tokens).containsExactly(SECRET);

            byte[] secure = httpsGet("api.test", "api.test", "/echo-headers", "X-Api-Token: from-sandbox\r\n");
            assertThat(new String(body(secure), StandardCharsets.UTF_8)).contains("from-sandbox")
                    .doesNotContain(SECRET);
            // another host never gets it
            byte[] other = exchange("GET http://other.test/echo-headers HTTP/1.1\r\nHost: other.test\r\n\r\n");
            assertThat(new String(body(other), StandardCharsets.UTF_8)).doesNotContain(SECRET);
        }
    }

    @Test
    void sniOtherThanTheConnectHostIsRefused() throws Exception {
        try (EgressProxy ignored = proxy()) {
            int before = settledRequestCount();
            try {
                httpsGet("api.test", "other.test", "/bytes/10", "");
                throw new AssertionError("the handshake must fail");
            } catch (IOException expected) {
                // closed by the proxy
            }
            assertThat(events).containsExactly("api.test:443 the TLS server name (SNI) is not the CONNECT host");
            Thread.sleep(500);
            // only this test's request counts: an earlier test's connection may still be logged as it ends
            assertThat(requests().subList(before, requests().size())).noneMatch(
                    r -> "/bytes/10".equals(r.path("path").asString(""))
                            || "other.test".equals(r.path("sni").asString("")));
        }
    }

    @Test
    void hostHeaderMismatchAndRefusedTargetsNeverReachAServer() throws Exception {
        try (EgressProxy ignored = proxy()) {
            int before = settledRequestCount();
            String mismatch = new String(exchange("GET http://api.test/x HTTP/1.1\r\nHost: other.test\r\n\r\n"),
                    StandardCharsets.US_ASCII);
            assertThat(mismatch).startsWith("HTTP/1.1 400 ");
            String blocked = new String(exchange("CONNECT blocked.test:443 HTTP/1.1\r\n\r\n"),
                    StandardCharsets.US_ASCII);
            assertThat(blocked).startsWith("HTTP/1.1 403 ")
                    .endsWith("network.denied: not in network.allowed-domains\n");
            String rebind = new String(exchange("GET http://rebind.test/ HTTP/1.1\r\nHost: rebind.test\r\n\r\n"),
                    StandardCharsets.US_ASCII);
            assertThat(rebind).startsWith("HTTP/1.1 403 ").contains("loopback");
            String port = new String(exchange("CONNECT api.test:22 HTTP/1.1\r\n\r\n"), StandardCharsets.US_ASCII);
            assertThat(port).startsWith("HTTP/1.1 403 ");
            assertThat(events).containsExactly(
                    "api.test:80 the Host header names another host than the URL",
                    "blocked.test:443 not in network.allowed-domains",
                    "rebind.test:80 resolves to a refused address (127.0.0.1: loopback)",
                    "api.test:22 port 22 is not in network.allowed-ports");
            Thread.sleep(300);
            assertThat(requests()).hasSize(before);
        }
    }

    @Test
    void the33rdConcurrentConnectionIsRefused() throws Exception {
        try (EgressProxy ignored = proxy()) {
            List<Socket> open = new ArrayList<>();
            try {
                for (int i = 0; i < 32; i++) {
                    Socket s = connectTunnel("api.test");
                    open.add(s);
                }
                String refused = new String(exchange("CONNECT api.test:443 HTTP/1.1\r\n\r\n"),
                        StandardCharsets.US_ASCII);
                assertThat(refused).startsWith("HTTP/1.1 503 ");
                assertThat(events).containsExactly("api.test:443 at most 32 connections at once "
                        + "(network.max-connections)");
                open.removeFirst().close();
                await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                    Socket again = connectTunnel("api.test");
                    open.add(again);
                });
            } finally {
                for (Socket s : open) {
                    s.close();
                }
            }
        }
    }

    @Test
    void bandwidthIsHeld() throws Exception {
        try (EgressProxy ignored = proxy(1L << 30, 512 * 1024, Duration.ofSeconds(30))) {
            long start = System.nanoTime();
            byte[] plain = exchange("GET http://api.test/bytes/1048576 HTTP/1.1\r\nHost: api.test\r\n\r\n");
            double seconds = (System.nanoTime() - start) / 1e9;
            assertThat(body(plain)).hasSize(1 << 20);
            assertThat(seconds).isBetween(1.8, 10.0);
        }
    }

    @Test
    void maxBytesCutsTheConnectionAndRefusesLaterOnes() throws Exception {
        try (EgressProxy proxy = proxy(256 * 1024, 0, Duration.ofSeconds(30))) {
            byte[] cut = exchange("GET http://api.test/bytes/1048576 HTTP/1.1\r\nHost: api.test\r\n\r\n");
            assertThat(cut.length).isLessThanOrEqualTo(256 * 1024);
            NetworkIO usage = proxy.usage();
            assertThat(usage.bytesReceived() + usage.bytesSent()).isLessThanOrEqualTo(256 * 1024);
            assertThat(events).singleElement().asString().isEqualTo(
                    "api.test:80 network.max-bytes (262144 bytes) reached");
            String later = new String(exchange("GET http://api.test/x HTTP/1.1\r\nHost: api.test\r\n\r\n"),
                    StandardCharsets.US_ASCII);
            assertThat(later).startsWith("HTTP/1.1 403 ").contains("max-bytes");
        }
    }

    @Test
    void aSilentClientIsClosedAfterTheHeadTimeout() throws Exception {
        try (EgressProxy ignored = proxy(1L << 30, 0, Duration.ofSeconds(1));
             Socket s = new Socket(InetAddress.getLoopbackAddress(), sandboxSide.getLocalPort())) {
            s.setSoTimeout(10_000);
            long start = System.nanoTime();
            assertThat(s.getInputStream().read()).isEqualTo(-1);
            assertThat((System.nanoTime() - start) / 1e9).isBetween(0.5, 5.0);
        }
    }

    @Test
    void closeCutsOpenTunnelsAndRefusesLaterConnections() throws Exception {
        EgressProxy proxy = proxy();
        try (Socket tunnel = connectTunnel("api.test")) {
            proxy.close();
            tunnel.setSoTimeout(10_000);
            assertThat(tunnel.getInputStream().read()).isEqualTo(-1);
        }
        String later = new String(exchange("CONNECT api.test:443 HTTP/1.1\r\n\r\n"), StandardCharsets.US_ASCII);
        assertThat(later).startsWith("HTTP/1.1 503 ");
    }

    // --- the sandbox's side

    private static byte[] exchange(String head, byte[]... body) throws IOException {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), sandboxSide.getLocalPort())) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            out.write(head.getBytes(StandardCharsets.ISO_8859_1));
            for (byte[] b : body) {
                out.write(b);
            }
            out.flush();
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            try {
                s.getInputStream().transferTo(all);
            } catch (IOException cut) {
                // a cut connection: what arrived before counts
            }
            return all.toByteArray();
        }
    }

    /** CONNECT to {@code host}:443, the 200 read; the socket is then a raw tunnel. */
    private static Socket connectTunnel(String host) throws IOException {
        Socket s = new Socket(InetAddress.getLoopbackAddress(), sandboxSide.getLocalPort());
        s.setSoTimeout(30_000);
        s.getOutputStream().write(("CONNECT " + host + ":443 HTTP/1.1\r\nHost: " + host + ":443\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        String head = readHead(s.getInputStream());
        if (!head.startsWith("HTTP/1.1 200 ")) {
            s.close();
            throw new IOException("CONNECT answered " + head);
        }
        return s;
    }

    private static byte[] httpsGet(String connectHost, String sni, String path, String extraHeaders)
            throws IOException {
        try (Socket tunnel = connectTunnel(connectHost)) {
            SSLSocket ssl = (SSLSocket) tls.getSocketFactory().createSocket(tunnel, sni, 443, true);
            SSLParameters parameters = ssl.getSSLParameters();
            parameters.setServerNames(List.of(new SNIHostName(sni)));
            parameters.setEndpointIdentificationAlgorithm("HTTPS");
            ssl.setSSLParameters(parameters);
            ssl.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: " + sni + "\r\n" + extraHeaders
                    + "\r\n").getBytes(StandardCharsets.US_ASCII));
            ssl.getOutputStream().flush();
            byte[] all = ssl.getInputStream().readAllBytes();
            ssl.close();
            return all;
        }
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) {
                break;
            }
            head.write(b);
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }

    private static byte[] body(byte[] response) throws IOException {
        ByteArrayInputStream in = new ByteArrayInputStream(response);
        String head = readHead(in);
        assertThat(head).startsWith("HTTP/1.1 200 ");
        return in.readAllBytes();
    }

    private static InputStream inputOf(Socket socket) {
        try {
            return socket.getInputStream();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The sandbox side's output: close() is a half close, as the agent's conn_eof is. */
    private static OutputStream halfClosing(Socket socket) {
        try {
            OutputStream out = socket.getOutputStream();
            return new java.io.FilterOutputStream(out) {
                @Override
                public void write(byte[] b, int off, int len) throws IOException {
                    out.write(b, off, len);
                }

                @Override
                public void close() throws IOException {
                    out.flush();
                    socket.shutdownOutput();
                }
            };
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    // --- the server's log and the namespace

    private static List<JsonNode> requests() throws IOException {
        List<JsonNode> all = new ArrayList<>();
        for (String line : Files.readAllLines(requestLog)) {
            if (!line.isBlank()) {
                all.add(JSON.readTree(line));
            }
        }
        return all;
    }

    /**
     * The test server's log once it has stopped growing: a connection an earlier test closed (a tunnel it held
     * open) is logged when the server sees it end, which may be after this test has started.
     */
    private static int settledRequestCount() throws IOException, InterruptedException {
        int seen = requests().size();
        for (int i = 0; i < 50; i++) {
            Thread.sleep(200);
            int now = requests().size();
            if (now == seen) {
                return now;
            }
            seen = now;
        }
        throw new AssertionError("the test server's request log kept growing for 10 s");
    }

    private static List<JsonNode> awaitRequests(int count) throws IOException {
        await().atMost(Duration.ofSeconds(20)).until(() -> requests().size() >= count);
        return requests();
    }

    private static void assertRouteIsOurs() throws IOException, InterruptedException {
        assertThat(run("ip", "route", "get", SERVER_ADDRESS)).as("the route to the test servers must be our veth")
                .contains("dev " + hostVeth + " ");
    }
}
