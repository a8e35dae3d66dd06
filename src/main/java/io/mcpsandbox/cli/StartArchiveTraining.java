package io.mcpsandbox.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The training runs of bin/setup's JVM start archives ({@code java -XX:AOTCacheOutput=... -cp JAR} this class).
 * Without arguments one JVM walks both paths of {@code exec} so that the archive holds the classes of each: first a
 * real in-process {@code exec --local -- true}, then the hand-off (before picocli, {@link QuickHandOff}, and through
 * it); with {@code handoff} only the hand-off before picocli, for the small archive the launcher uses for those
 * forms of exec when a local server runs (an archive's classes are all loaded at every start, so the hand-off's own
 * is a fraction of the full one). The hand-off is trained against a stand-in server on
 * loopback that answers with a fixed stream as the real one frames it (chunked NDJSON; the real server takes
 * seconds to start; only the client's classes matter here). Its local-endpoint file is written to the state
 * directory only when that is a fresh directory bin/setup made for the training (MCP_SANDBOX_STATE_DIR), never
 * over a real server's. Not a command of the product: the launcher never runs it.
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
        boolean handOffOnly = args.length > 0 && args[0].equals("handoff");
        int local = handOffOnly ? 0 : Main.run("exec", "--local", "--", "true");
        Path state = Main.config().stateDir();
        if (!state.getFileName().toString().startsWith("mcp-sandbox-training") || !Files.isDirectory(state)
                || Files.exists(state.resolve(LocalEndpoint.FILE_NAME))) {
            throw new IllegalStateException("set MCP_SANDBOX_STATE_DIR to a fresh mcp-sandbox-training* directory");
        }
        try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread standIn = new Thread(() -> serve(server), "training-stand-in");
            standIn.setDaemon(true);
            standIn.start();
            String url = LocalEndpoint.urlFor("127.0.0.1", server.getLocalPort());
            LocalEndpoint.ofThisProcess(url, LocalEndpoint.newToken()).write(state);
            // The plainest exec's path before picocli (Main), then one through picocli (any other option).
            int quick = QuickHandOff.tryRun(new String[] {"exec", "--", "true"}).orElse(-1);
            int json = QuickHandOff.tryRun(new String[] {"exec", "--json", "--", "true"}).orElse(-1);
            int handedOff = handOffOnly ? 0 : Main.run("exec", "--timeout", "5s", "--", "true");
            System.out.println("training: in-process exit " + local + ", hand-off exit " + quick + ", --json " + json
                    + ", through picocli " + handedOff);
        } finally {
            Files.deleteIfExists(state.resolve(LocalEndpoint.FILE_NAME));
        }
    }

    /** Answers each connection's request with {@link #STREAM}, chunked, one chunk a line, as Jetty sends it. */
    private static void serve(ServerSocket server) {
        while (!server.isClosed()) {
            try (Socket s = server.accept()) {
                InputStream in = s.getInputStream();
                String head = "";
                while (!head.endsWith("\r\n\r\n")) {
                    int b = in.read();
                    if (b < 0) {
                        break;
                    }
                    head += (char) b;
                }
                int at = head.toLowerCase(java.util.Locale.ROOT).indexOf("content-length: ");
                if (at >= 0) {
                    in.readNBytes(Integer.parseInt(head.substring(at + 16, head.indexOf('\r', at)).strip()));
                }
                OutputStream out = s.getOutputStream();
                out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson; charset=utf-8\r\n"
                        + "Transfer-Encoding: chunked\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                for (String line : STREAM.split("\n")) {
                    byte[] bytes = (line + "\n").getBytes(StandardCharsets.UTF_8);
                    out.write((Integer.toHexString(bytes.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.write(bytes);
                    out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
                }
                out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
            } catch (IOException | RuntimeException e) {
                // closed at the end, or a broken training request: the training's exit codes tell
            }
        }
    }
}
