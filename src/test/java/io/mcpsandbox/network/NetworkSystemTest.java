package io.mcpsandbox.network;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.NetworkIO;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.model.SecurityEvent;
import io.mcpsandbox.model.SessionRequest;
import io.mcpsandbox.testing.DockerDaemon;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestInternet;
import io.mcpsandbox.testing.TestSandbox;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Network on request, end to end on every runtime (docs/network.md): a real service whose sandboxes reach "the
 * internet" of {@link TestInternet} (HTTP and HTTPS servers in a network namespace of this test, names answered
 * only by {@code network.resolve}) through the agent's relay and the egress policy point. Allowed names work over
 * HTTP and HTTPS with byte counts matching the servers'; pip installs a package in a session; every other way
 * out fails, and what reached the policy point is a {@code network.denied} event; sandboxes cannot reach each
 * other; a request without network has none; nothing is left behind. The refusals of metadata, private and
 * link-local addresses are tested at the policy point's decision (EgressPolicyTest), never with a packet.
 */
@SystemTest
class NetworkSystemTest {
    private static final String SECRET = "s3cr3t-token-for-secret-test";
    private static TestInternet internet;
    private static TestSandbox sandbox;
    private static Path config;
    /** A listener on the host's loopback that no sandbox may ever reach. */
    private static ServerSocket hostLoopback;
    private static final AtomicInteger hostLoopbackAccepted = new AtomicInteger();

    @BeforeAll
    static void start() throws Exception {
        DockerDaemon.ensureRunning();
        // First: the service's address policy reads the host's addresses (the test veth's among them) at start.
        internet = TestInternet.start();
        hostLoopback = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread.ofVirtual().start(() -> {
            while (!hostLoopback.isClosed()) {
                try (Socket s = hostLoopback.accept()) {
                    hostLoopbackAccepted.incrementAndGet();
                } catch (IOException closed) {
                    return;
                }
            }
        });
        config = Files.createTempFile("mcp-network-test-", ".properties");
        Files.writeString(config, String.join("\n",
                "network.enabled=true",
                "network.allowed-domains=pypi.test,files.pypi.test,allowed.test,*.allowed.test,secret.test,"
                        + "rebind.test",
                "network.resolve=" + internet.resolveSetting() + ",rebind.test=127.0.0.1",
                "network.secret-header.secret.test=X-Api-Token: " + SECRET,
                ""));
        sandbox = TestSandbox.start(Map.of("MCP_SANDBOX_CONFIG", config.toString(),
                "MCP_SANDBOX_POLICY_MODE", "report", "MCP_SANDBOX_POOL_ENABLED", "false"));
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (sandbox != null) {
                sandbox.close();
            }
        } finally {
            if (hostLoopback != null) {
                hostLoopback.close();
            }
            if (internet != null) {
                internet.close();
            }
            if (config != null) {
                Files.deleteIfExists(config);
            }
        }
        assertThat(hostLoopbackAccepted.get()).as("connections that reached the host's loopback").isZero();
    }

    @AfterEach
    void nothingLeft() throws Exception {
        sandbox.assertNothingLeftBehind();
        // No connection of a sandbox stays open at the servers once its sandbox is gone.
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(establishedAtTheServers())
                .as("connections still open at the test servers").isEmpty());
    }

    static Stream<String> runtimes() {
        return TestSandbox.ALL_RUNTIMES.stream();
    }

    /** The container runtimes and the microVM, whose relay is the same agent's over a virtio port. */
    static Stream<String> runtimesAndMicrovm() {
        return Stream.concat(runtimes(), Stream.of("microvm"));
    }

    @ParameterizedTest
    @MethodSource("runtimesAndMicrovm")
    void allowedNamesWorkOverHttpAndHttpsAndTheBytesAreCounted(String runtime) throws Exception {
        int before = internet.connections().size();
        ExecutionResult r = python(runtime, """
                import os, ssl, urllib.request
                body = urllib.request.urlopen("http://allowed.test/bytes/100000", timeout=30).read()
                print("http", len(body), body == bytes(i % 256 for i in range(100000)))
                ctx = ssl.create_default_context(cafile="/workspace/ca.pem")
                body = urllib.request.urlopen("https://sub.allowed.test/bytes/300000", context=ctx, timeout=30).read()
                print("https", len(body), body == bytes(i % 256 for i in range(300000)))
                print("proxy", os.environ.get("HTTPS_PROXY"))
                """);
        assertThat(r.status()).as(r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(r.stdout()).isEqualTo("http 100000 True\nhttps 300000 True\nproxy " + SandboxEgress.PROXY_URL
                + "\n");
        assertThat(r.securityEvents()).filteredOn(e -> e.type().equals(SandboxEgress.DENIED)).isEmpty();
        List<TestInternet.Connection> seen = internet.awaitConnections(c -> true, before + 2).subList(before,
                before + 2);
        assertThat(seen).extracting(TestInternet.Connection::sni).containsExactlyInAnyOrder(null, "sub.allowed.test");
        long serverReceived = seen.stream().mapToLong(TestInternet.Connection::bytesReceived).sum();
        long serverSent = seen.stream().mapToLong(TestInternet.Connection::bytesSent).sum();
        NetworkIO io = r.resourceUsage().networkIO();
        assertThat((double) io.bytesSent()).as("sent, against what the servers received")
                .isBetween(serverReceived * 0.95, serverReceived * 1.05);
        assertThat((double) io.bytesReceived()).as("received, against what the servers sent")
                .isBetween(serverSent * 0.95, serverSent * 1.05);
    }

    @ParameterizedTest
    @MethodSource("runtimesAndMicrovm")
    void everyOtherWayOutFailsAndWhatReachedThePolicyPointIsReported(String runtime) throws Exception {
        String address = internet.address();
        ExecutionResult r = python(runtime, """
                import socket, subprocess, urllib.request, urllib.error
                def proxied(target):
                    # What any client does through the proxy; the answer's status line is what we print.
                    with socket.create_connection(("127.0.0.1", 3128), timeout=30) as s:
                        s.sendall(b"CONNECT " + target.encode() + b" HTTP/1.1\\r\\nHost: " + target.encode()
                                  + b"\\r\\n\\r\\n")
                        print(target, s.recv(200).split(b"\\r\\n")[0].decode())
                def direct(what, f):
                    try:
                        f()
                        print(what, "REACHED")
                    except Exception:
                        print(what, "failed")
                proxied("blocked.test:443")
                proxied("%(address)s:443")
                proxied("127.0.0.1:%(loopback)d")
                proxied("rebind.test:443")
                proxied("allowed.test:22")
                proxied("%(host)s:80")
                try:
                    urllib.request.urlopen("http://blocked.test/", timeout=30)
                    print("http blocked.test REACHED")
                except urllib.error.HTTPError as e:
                    print("http blocked.test", e.code)
                direct("tcp", lambda: socket.create_connection(("%(address)s", 80), timeout=5))
                def udp():
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                        u.sendto(b"x", ("%(address)s", 53))
                        u.settimeout(3)
                        u.recv(10)
                direct("udp", udp)
                direct("resolve", lambda: socket.getaddrinfo("allowed.test", 80))
                direct("route", lambda: subprocess.run(["ip", "route", "add", "default", "dev", "lo"], check=True,
                                                       stderr=subprocess.DEVNULL))
                try:
                    with open("/etc/resolv.conf", "w") as f:
                        f.write("nameserver %(address)s\\n")
                except OSError:
                    pass
                direct("resolve after resolv.conf", lambda: socket.getaddrinfo("allowed.test", 80))
                """.replace("%(address)s", address).replace("%(host)s", internet.hostAddress())
                .replace("%(loopback)d", Integer.toString(hostLoopback.getLocalPort())));
        assertThat(r.status()).as(r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        String loopback = "127.0.0.1:" + hostLoopback.getLocalPort();
        assertThat(r.stdout().lines().toList()).containsExactly(
                "blocked.test:443 HTTP/1.1 403 Forbidden",
                address + ":443 HTTP/1.1 403 Forbidden",
                loopback + " HTTP/1.1 403 Forbidden",
                "rebind.test:443 HTTP/1.1 403 Forbidden",
                "allowed.test:22 HTTP/1.1 403 Forbidden",
                internet.hostAddress() + ":80 HTTP/1.1 403 Forbidden",
                "http blocked.test 403",
                "tcp failed", "udp failed", "resolve failed", "route failed", "resolve after resolv.conf failed");
        List<String> targets = r.securityEvents().stream().filter(e -> e.type().equals(SandboxEgress.DENIED))
                .map(e -> String.valueOf(e.details().get("target"))).toList();
        assertThat(targets).containsExactlyInAnyOrder("blocked.test:443", address + ":443", loopback,
                "rebind.test:443", "allowed.test:22", internet.hostAddress() + ":80", "blocked.test:80");
        assertThat(r.resourceUsage().networkIO()).as("nothing went out").isEqualTo(NetworkIO.NONE);
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void aSessionInstallsAPackageFromAnAllowedIndexAndKeepsItsNarrowedList(String runtime) throws Exception {
        String user = "net-" + runtime;
        SessionRecord session = sandbox.openSession(new SessionRequest(null, runtime, null,
                new LimitsRequest(120_000L, 512L << 20, null, null, null), caEnv(), caFile(), null, null, null, user,
                true, List.of("pypi.test", "files.pypi.test")));
        try {
            ExecutionResult pip = inSession(session, user, "python3 -m pip install --no-cache-dir "
                    + "--disable-pip-version-check --no-deps --only-binary :all: --target /workspace/lib "
                    + "--index-url https://pypi.test/simple/ mcp-hello");
            assertThat(pip.status()).as(pip.stdout() + pip.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
            assertThat(pip.exitCode()).as(pip.stdout() + pip.stderr()).isZero();
            assertThat(pip.resourceUsage().networkIO().bytesReceived()).isGreaterThan(1000);
            ExecutionResult use = inSession(session, user,
                    "PYTHONPATH=/workspace/lib python3 -c 'import mcp_hello; print(mcp_hello.hello())'");
            assertThat(use.stdout()).as(use.stderr()).isEqualTo("hello from mcp-hello\n");
            assertThat(use.resourceUsage().networkIO()).isEqualTo(NetworkIO.NONE);
            // On the server's list, but not on the session's.
            ExecutionResult narrowed = inSession(session, user, "python3 -c 'import urllib.request; "
                    + "urllib.request.urlopen(\"http://allowed.test/\", timeout=30)'");
            assertThat(narrowed.stderr()).contains("403");
            assertThat(narrowed.securityEvents()).filteredOn(e -> e.type().equals(SandboxEgress.DENIED))
                    .extracting(e -> e.details().get("target")).containsExactly("allowed.test:80");
        } finally {
            sandbox.services().sessions().close(user, session.sessionId());
        }
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void sandboxesCannotReachEachOther(String runtime) throws Exception {
        String user = "peer-" + runtime;
        SessionRecord listener = sandbox.openSession(new SessionRequest(null, runtime, null, null, Map.of(),
                Map.of(), null, null, null, user, true, List.of()));
        try {
            ExecutionResult serving = inSession(listener, user, "python3 -m http.server 8000 --bind 127.0.0.1 "
                    + ">/dev/null 2>&1 & sleep 1; python3 -c 'import urllib.request; print(urllib.request.urlopen("
                    + "\"http://127.0.0.1:8000/\", timeout=10).status)'");
            assertThat(serving.stdout()).as("the listener serves inside its own sandbox: " + serving.stderr())
                    .isEqualTo("200\n");
            ExecutionResult other = python(runtime, """
                    import socket
                    try:
                        socket.create_connection(("127.0.0.1", 8000), timeout=5)
                        print("direct REACHED")
                    except OSError:
                        print("direct failed")
                    with socket.create_connection(("127.0.0.1", 3128), timeout=30) as s:
                        s.sendall(b"CONNECT 127.0.0.1:8000 HTTP/1.1\\r\\nHost: 127.0.0.1:8000\\r\\n\\r\\n")
                        print(s.recv(200).split(b"\\r\\n")[0].decode())
                    """);
            assertThat(other.stdout()).as(other.stderr()).isEqualTo("direct failed\nHTTP/1.1 403 Forbidden\n");
        } finally {
            sandbox.services().sessions().close(user, listener.sessionId());
        }
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void aRequestWithoutNetworkHasNone(String runtime) {
        ExecutionResult r = sandbox.run(ExecutionRequest.builder().runtime(runtime).language("python").code("""
                import os, socket
                print(sorted(k for k in os.environ if k.lower().endswith("_proxy")))
                try:
                    socket.create_connection(("127.0.0.1", 3128), timeout=5)
                    print("proxy port open")
                except OSError:
                    print("no proxy port")
                """).build());
        assertThat(r.stdout()).as(r.stderr()).isEqualTo("[]\nno proxy port\n");
        assertThat(r.resourceUsage().networkIO()).isEqualTo(NetworkIO.NONE);
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void aSecretHeaderIsAddedAtEgressAndNeverSeenInside(String runtime) throws Exception {
        int before = internet.requests().size();
        ExecutionResult r = python(runtime, """
                import os, urllib.request
                req = urllib.request.Request("http://secret.test/echo-headers", headers={"X-Api-Token": "forged"})
                urllib.request.urlopen(req, timeout=30).read()
                print(any("s3cr3t" in v for v in os.environ.values()))
                """);
        assertThat(r.stdout()).as(r.stderr()).isEqualTo("False\n");
        // this run's request, not one an earlier test's connection logged late
        TestInternet.Request seen = await().atMost(Duration.ofSeconds(20)).until(
                () -> internet.requests().stream().skip(before)
                        .filter(q -> "secret.test".equals(q.host()) && "/echo-headers".equals(q.path()))
                        .findFirst(), Optional::isPresent).orElseThrow();
        assertThat(seen.headers("X-Api-Token")).containsExactly(SECRET);
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void aProgramThatFloodsThePolicyPointMeetsItsCapsAndABoundedRecord(String runtime) {
        ExecutionResult r = python(runtime, """
                import socket
                held = []
                for i in range(80):
                    s = socket.create_connection(("127.0.0.1", 3128), timeout=30)
                    s.sendall(b"CONNECT allowed.test:443 HTTP/1.1\\r\\nHost: allowed.test:443\\r\\n\\r\\n")
                    held.append(s)
                answers = [s.recv(200).split(b" ")[1].decode() for s in held]
                print("200:", answers.count("200"), "503:", answers.count("503"))
                for s in held:
                    s.close()
                for i in range(300):
                    with socket.create_connection(("127.0.0.1", 3128), timeout=30) as s:
                        s.sendall(b"CONNECT blocked.test:443 HTTP/1.1\\r\\n\\r\\n")
                        s.recv(200)
                print("flooded")
                """);
        // network.max-connections (32) at once; the agent's own 64 keep the rest waiting, then they are refused.
        assertThat(r.stdout()).as(r.stderr()).isEqualTo("200: 32 503: 48\nflooded\n");
        List<SecurityEvent> denied = r.securityEvents().stream().filter(e -> e.type().equals(SandboxEgress.DENIED))
                .toList();
        assertThat(denied).as("the first %d described, the rest counted", SandboxEgress.MAX_EVENTS)
                .hasSize(SandboxEgress.MAX_EVENTS + 1);
        assertThat(denied.getLast().details().get("count")).isEqualTo(348L - SandboxEgress.MAX_EVENTS);
    }

    private static ExecutionResult python(String runtime, String code) {
        return sandbox.run(ExecutionRequest.builder().runtime(runtime).language("python").code(code)
                .files(caFile()).env(caEnv()).network(true).limits(new LimitsRequest(60_000L, null, null, null,
                        null)).build());
    }

    private static ExecutionResult inSession(SessionRecord session, String user, String script) {
        return sandbox.run(ExecutionRequest.builder().sessionId(session.sessionId()).userId(user)
                .command("sh", "-c", script).build());
    }

    private static Map<String, String> caFile() {
        return Map.of("ca.pem", new String(internet.caPem(), StandardCharsets.US_ASCII));
    }

    /** Every name a client library reads its trusted CAs from (pip's requests takes REQUESTS_CA_BUNDLE first). */
    private static Map<String, String> caEnv() {
        return Map.of("SSL_CERT_FILE", "/workspace/ca.pem", "REQUESTS_CA_BUNDLE", "/workspace/ca.pem",
                "PIP_CERT", "/workspace/ca.pem", "HOME", "/tmp");
    }

    /** TCP connections established at the servers' side of the test namespace. */
    private static List<String> establishedAtTheServers() throws IOException, InterruptedException {
        Process p = new ProcessBuilder("ip", "netns", "exec", internet.namespace(), "ss", "-Htn", "state",
                "established").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor();
        List<String> lines = new ArrayList<>(out.lines().filter(l -> !l.isBlank()).toList());
        return lines;
    }
}
