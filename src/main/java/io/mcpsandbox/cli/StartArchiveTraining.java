package io.mcpsandbox.cli;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.stream.Stream;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * The training run of bin/setup's JVM start archive ({@code java -XX:AOTCacheOutput=... -cp JAR} this class): one
 * JVM walks both paths of {@code exec} so that the archive holds the classes of each. First a real in-process
 * {@code exec --local -- true}; then the hand-off client against a stand-in server on loopback that answers
 * with a fixed stream (the real server takes seconds to start; only the client's classes matter here). Not a
 * command of the product: the launcher never runs it.
 */
final class StartArchiveTraining {
    private static final String STREAM = """
            {"type":"started","executionId":"training"}
            {"type":"stdout","stream":"stdout","offset":0,"data":""}
            {"type":"result","result":{"executionId":"training","status":"completed","exitCode":0,"stdout":"",\
            "stderr":"","pooled":false}}
            """;

    private StartArchiveTraining() {
    }

    public static void main(String[] args) throws IOException {
        int local = Main.run("exec", "--local", "--", "true");
        Path state = Files.createTempDirectory("mcp-sandbox-training",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        try {
            server.createContext("/v1/executions", exchange -> {
                exchange.getRequestBody().readAllBytes();
                byte[] body = STREAM.getBytes(StandardCharsets.UTF_8);
                exchange.getResponseHeaders().set("Content-Type", "application/x-ndjson");
                exchange.sendResponseHeaders(200, body.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            });
            server.start();
            String url = LocalEndpoint.urlFor("127.0.0.1", server.getAddress().getPort());
            LocalEndpoint.ofThisProcess(url, LocalEndpoint.newToken()).write(state);
            ObjectNode request = JsonMapper.shared().createObjectNode();
            request.putArray("command").add("true");
            StringWriter sink = new StringWriter();
            PrintWriter out = new PrintWriter(sink);
            var handedOff = LocalHandOff.tryRun(state, request, false, out, out, false);
            System.out.println("training: in-process exit " + local + ", hand-off exit " + handedOff.orElse(-1));
        } finally {
            server.stop(0);
            try (Stream<Path> files = Files.walk(state)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }
}
