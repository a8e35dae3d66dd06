package io.mcpsandbox.testing;

import static io.mcpsandbox.testing.HostCommands.run;
import static io.mcpsandbox.testing.HostCommands.runQuietly;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * An HTTP receiver in a network namespace the test creates: a veth pair (host {@code NET.1/30}, namespace
 * {@code NET.2/30}, in the benchmark range 198.18.0.0/15 the address policy allows) and a python3 HTTP server
 * inside that records every request (path, time, headers, body) and answers from a script per path. Before it
 * is used, the route to the receiver is checked to go through this test's own veth. A listener on the host's
 * loopback, on the same port, catches any connection that must never happen (a followed redirect, a rebound
 * name). {@link #close()} removes the namespace and the veth pair.
 */
public final class NetnsReceiver implements AutoCloseable {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    /**
     * Answers each path's n-th request with script[path][min(n, last)]: [status], [status, location], ["silent"]
     * (never answers) or ["endless"] (200 and a body that never ends). A path not in the script: 200. In a
     * location, {@code {port}} stands for the receiver's port (the trap's, on the host's loopback).
     */
    private static final String SERVER = """
            import json, sys, base64, http.server, socketserver, threading, time
            script_file, log_file, ready_file, host, port = sys.argv[1:6]
            counts = {}
            lock = threading.Lock()
            class Handler(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
                    with lock:
                        n = counts.get(self.path, 0)
                        counts[self.path] = n + 1
                        with open(log_file, 'a') as f:
                            f.write(json.dumps({'path': self.path, 'time': time.time(),
                                                'headers': {k.lower(): v for k, v in self.headers.items()},
                                                'body': base64.b64encode(body).decode()}) + '\\n')
                    with open(script_file) as f:
                        answers = json.load(f).get(self.path, [[200]])
                    answer = answers[min(n, len(answers) - 1)]
                    if answer[0] == 'silent':
                        time.sleep(60)
                        return
                    if answer[0] == 'endless':
                        self.send_response(200)
                        self.end_headers()
                        try:
                            while True:
                                self.wfile.write(b'x' * 65536)
                        except OSError:
                            return
                    self.send_response(answer[0])
                    if len(answer) > 1:
                        self.send_header('Location', answer[1].replace('{port}', port))
                    self.send_header('Content-Length', '2')
                    self.end_headers()
                    self.wfile.write(b'ok')
                def log_message(self, *args):
                    pass
            class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
                daemon_threads = True
            server = Server((host, int(port)), Handler)
            open(ready_file, 'w').close()
            server.serve_forever()
            """;

    private final String hostAddress;
    private final String address;
    private final Path requestLog;
    private final AtomicInteger trapConnections = new AtomicInteger();
    private String namespace;
    private String hostVeth;
    private ServerSocket trap;
    private Process receiver;
    private int port;

    private NetnsReceiver(String network, Path work) {
        this.hostAddress = network + ".1";
        this.address = network + ".2";
        this.requestLog = work.resolve("requests.jsonl");
    }

    /**
     * @param network the first three octets of a /30 only this test uses, e.g. {@code "198.18.78"} (the namespace
     *                is {@code .2}, the host side {@code .1})
     * @param tag     2 letters naming the test in the interface and namespace names (at most 15 characters)
     * @param work    a directory of the test's own for the script, the request log and the receiver's output
     * @param script  per path, the answers in order (see {@link #SERVER})
     */
    public static NetnsReceiver start(String network, String tag, Path work, Map<String, ?> script)
            throws Exception {
        NetnsReceiver r = new NetnsReceiver(network, work);
        try {
            r.create(tag, work, script);
        } catch (Exception | AssertionError e) {
            r.close();
            throw e;
        }
        return r;
    }

    private void create(String tag, Path work, Map<String, ?> script) throws Exception {
        String suffix = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()).substring(2);
        namespace = "mcp" + tag + "-" + suffix;
        hostVeth = tag + "h" + suffix;
        String nsVeth = tag + "n" + suffix;
        HostCommands.namespaceWithVeth(namespace, hostVeth, nsVeth, hostAddress, address);
        assertRouteIsOurs();

        // The trap: the same port on the host's loopback, where nothing may ever connect.
        trap = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        port = trap.getLocalPort();
        Thread.ofVirtual().start(() -> {
            while (!trap.isClosed()) {
                try (Socket ignored = trap.accept()) {
                    trapConnections.incrementAndGet();
                } catch (IOException e) {
                    return;
                }
            }
        });

        Path scriptFile = work.resolve("script.json");
        Path ready = work.resolve("ready");
        Path output = work.resolve("receiver.out");
        Files.writeString(scriptFile, JSON.writeValueAsString(script));
        Files.createFile(requestLog);
        receiver = new ProcessBuilder("ip", "netns", "exec", namespace, "python3", "-c", SERVER,
                scriptFile.toString(), requestLog.toString(), ready.toString(), address, Integer.toString(port))
                .redirectErrorStream(true).redirectOutput(output.toFile()).start();
        await().atMost(Duration.ofSeconds(20)).until(() -> Files.exists(ready) || !receiver.isAlive());
        assertThat(receiver.isAlive()).as("the receiver runs: " + Files.readString(output)).isTrue();
    }

    /** Fails unless the route to the receiver goes through this test's own veth (never the real network). */
    public void assertRouteIsOurs() throws IOException, InterruptedException {
        assertThat(run("ip", "route", "get", address)).as("the route to the test receiver must be this test's veth")
                .contains("dev " + hostVeth + " ");
    }

    /** The receiver's address, in the namespace. */
    public String address() {
        return address;
    }

    /** The host side's address on the veth. */
    public String hostAddress() {
        return hostAddress;
    }

    /** The receiver's port (the trap listens on the same port on the host's loopback). */
    public int port() {
        return port;
    }

    /** Connections the loopback trap accepted: every one is a failure. */
    public int trapConnections() {
        return trapConnections.get();
    }

    /** Every request received so far, in order of arrival. */
    public List<JsonNode> requests() throws IOException {
        List<JsonNode> all = new ArrayList<>();
        for (String line : Files.readAllLines(requestLog)) {
            if (!line.isBlank()) {
                all.add(JSON.readTree(line));
            }
        }
        return all;
    }

    /** The requests received on {@code path}, in order of arrival. */
    public List<JsonNode> requests(String path) throws IOException {
        return requests().stream().filter(r -> r.get("path").asString().equals(path)).toList();
    }

    /** Waits (20 s at most) until {@code path} received at least {@code count} requests; returns them. */
    public List<JsonNode> awaitRequests(String path, int count) {
        await().atMost(Duration.ofSeconds(20)).until(() -> requests(path).size() >= count);
        try {
            return requests(path);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Stops the receiver and the trap, removes the veth pair and the namespace, and checks they are gone. */
    @Override
    public void close() throws Exception {
        if (receiver != null) {
            receiver.destroyForcibly();
            receiver.waitFor(10, TimeUnit.SECONDS);
        }
        if (trap != null) {
            trap.close();
        }
        if (namespace != null) {
            runQuietly("ip", "link", "del", hostVeth);
            runQuietly("ip", "netns", "del", namespace);
            assertThat(run("ip", "netns", "list")).doesNotContain(namespace);
            assertThat(run("ip", "link", "show")).doesNotContain(hostVeth);
        }
    }
}
