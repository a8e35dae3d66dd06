package io.mcpsandbox.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.json.JsonMapper;

/**
 * exec's hand-off client without java.net.http and Jackson (LoopbackHttp, StreamJson): what a server on loopback
 * answers, well-formed or hostile, read strictly and within bounds.
 */
class LoopbackHandOffParsingTest {
    private static final Duration CONNECT = Duration.ofSeconds(2);
    private static final Duration READ = Duration.ofSeconds(10);

    /** Serves one connection with {@code answer} (raw bytes) and returns what the client sent. */
    private static String exchange(String answer, ThrowingReader reader) throws Exception {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<String> request = CompletableFuture.supplyAsync(() -> {
                try (Socket s = server.accept()) {
                    InputStream in = s.getInputStream();
                    StringBuilder head = new StringBuilder();
                    while (head.indexOf("\r\n\r\n") < 0) {
                        head.append((char) in.read());
                    }
                    int at = head.indexOf("Content-Length: ");
                    int length = at < 0 ? 0 : Integer.parseInt(head.substring(at + 16, head.indexOf("\r", at)));
                    String body = new String(in.readNBytes(length), StandardCharsets.UTF_8);
                    OutputStream out = s.getOutputStream();
                    out.write(answer.getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    s.shutdownOutput();
                    return head + body;
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            LoopbackHttp.Answer a = LoopbackHttp.exchange("127.0.0.1", server.getLocalPort(), "POST", "/v1/x?s=1",
                    Map.of("Authorization", "Bearer abc"), "{\"a\":1}".getBytes(StandardCharsets.UTF_8), CONNECT,
                    READ);
            try (InputStream body = a.body()) {
                reader.read(a, body);
            }
            return request.get(10, TimeUnit.SECONDS);
        }
    }

    interface ThrowingReader {
        void read(LoopbackHttp.Answer answer, InputStream body) throws IOException;
    }

    private static String text(InputStream in) throws IOException {
        return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }

    @Test
    void aChunkedStreamIsReadWholeAndTheRequestIsWellFormed() throws Exception {
        String line1 = "{\"type\":\"started\",\"executionId\":\"e1\"}\n";
        String line2 = "{\"type\":\"stdout\",\"data\":\"h\\u00e9\\n\",\"offset\":0}\n";
        String answer = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson; charset=utf-8\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n"
                + Integer.toHexString(line1.length()) + ";ext=1\r\n" + line1 + "\r\n"
                + Integer.toHexString(line2.getBytes(StandardCharsets.UTF_8).length) + "\r\n" + line2 + "\r\n"
                + "0\r\nX-Trailer: t\r\n\r\n";
        String[] body = new String[1];
        String request = exchange(answer, (a, in) -> {
            assertThat(a.status()).isEqualTo(200);
            assertThat(a.header("content-type")).contains("application/x-ndjson; charset=utf-8");
            body[0] = text(in);
        });
        assertThat(body[0]).isEqualTo(line1 + line2);
        assertThat(request).startsWith("POST /v1/x?s=1 HTTP/1.1\r\n").contains("\r\nHost: 127.0.0.1:")
                .contains("\r\nConnection: close\r\n").contains("\r\nAuthorization: Bearer abc\r\n")
                .contains("\r\nContent-Length: 7\r\n").endsWith("\r\n\r\n{\"a\":1}");
    }

    @Test
    void contentLengthAndCloseDelimitedBodiesEndWhereTheySay() throws Exception {
        exchange("HTTP/1.1 422 Unprocessable\r\nContent-Length: 5\r\n\r\nhello and more", (a, in) -> {
            assertThat(a.status()).isEqualTo(422);
            assertThat(text(in)).isEqualTo("hello");
        });
        exchange("HTTP/1.0 200 OK\r\n\r\nto the end", (a, in) -> assertThat(text(in)).isEqualTo("to the end"));
        exchange("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
                (a, in) -> assertThat(a.status()).isEqualTo(204));
    }

    @Test
    void malformedOrOversizedAnswersAreRefused() {
        List<String> bad = List.of(
                "HTTP/2 200 OK\r\n\r\n",
                "HTTP/1.1 2000 OK\r\n\r\n",
                "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
                "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
                "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                "HTTP/1.1 200 OK\r\nX: \u0001\r\n\r\n",
                "HTTP/1.1 200 OK\r\nX: " + "a".repeat(LoopbackHttp.MAX_HEAD_BYTES) + "\r\n\r\n",
                "HTTP/1.1 200 OK\r\n");
        for (String answer : bad) {
            assertThatThrownBy(() -> exchange(answer, (a, in) -> text(in))).as(answer.lines().findFirst().get())
                    .isInstanceOf(IOException.class);
        }
        List<String> badBodies = List.of(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
        for (String answer : badBodies) {
            assertThatThrownBy(() -> exchange(answer, (a, in) -> text(in))).as(answer)
                    .isInstanceOf(IOException.class);
        }
    }

    @Test
    void aRefusedConnectionSaysNothingWasSent() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        assertThatThrownBy(() -> LoopbackHttp.exchange("127.0.0.1", port, "GET", "/", Map.of(), null, CONNECT,
                READ)).isInstanceOf(LoopbackHttp.NoConnection.class);
    }

    @Test
    void streamEventsAreReadStrictlyAndTheResultKeepsTheServersText() {
        String result = "{\"executionId\":\"e\",\"status\":\"completed\",\"exitCode\":3,\"stdout\":\"a\\tb\\u0001\","
                + "\"cpu\":{\"p\":33.3,\"big\":12345678901},\"list\":[true,false,null],\"reason\":null}";
        StreamJson.Event event = StreamJson.parseEvent("{\"type\":\"result\",\"result\":" + result + "}");
        assertThat(event.rawValues().get("result")).isEqualTo(result);
        @SuppressWarnings("unchecked")
        Map<String, Object> r = (Map<String, Object>) event.members().get("result");
        assertThat(r.get("exitCode")).isEqualTo(3);
        assertThat(r.get("stdout")).isEqualTo("a\tb\u0001");
        assertThat(((Map<?, ?>) r.get("cpu")).get("big")).isEqualTo(12345678901L);
        assertThat(r.get("reason")).isSameAs(StreamJson.NULL);
        // What the server writes is what Jackson writes back: the --json line of both paths is the same text.
        assertThat(JsonMapper.shared().writeValueAsString(JsonMapper.shared().readTree(result))).isEqualTo(result);

        for (String bad : List.of("", "[]", "{\"a\":1,\"a\":2}", "{\"a\":01}", "{\"a\":\"x}", "{\"a\":1} x",
                "{\"a\":\"\u0001\"}", "{\"a\":\"\\q\"}", "{\"a\":tru}", "{\"a\":1,}", "{\"a\":-}",
                "{\"a\":" + "[".repeat(100) + "]".repeat(100) + "}")) {
            assertThatThrownBy(() -> StreamJson.parseEvent(bad)).as(bad).isInstanceOf(IllegalArgumentException.class);
        }
        String tricky = "q\"\\\n\r\t\b\f\u0002é";
        assertThat(((Map<?, ?>) StreamJson.parseEvent("{\"s\":" + StreamJson.quote(tricky) + "}").members())
                .get("s")).isEqualTo(tricky);
        assertThat(StreamJson.quote(tricky)).isEqualTo(JsonMapper.shared().writeValueAsString(tricky));
    }
}
