package io.mcpsandbox.runtime.docker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.model.ProductVersion;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Every Engine API request names the product and its one version; seen by a listener standing in for dockerd. */
class UserAgentTest {

    @Test
    void engineApiRequestsCarryTheProductsUserAgent() throws Exception {
        try (ServerSocket daemon = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             DockerConnection connection = new DockerConnection("tcp://127.0.0.1:" + daemon.getLocalPort())) {
            CompletableFuture<List<String>> headers = CompletableFuture.supplyAsync(() -> firstRequestHeaders(daemon));
            // The stand-in answers 500 to the ping: the call fails, after its request went out.
            assertThatThrownBy(connection::info).isInstanceOf(IOException.class);
            assertThat(headers.get(30, TimeUnit.SECONDS))
                    .anySatisfy(line -> assertThat(line).startsWith("GET /").contains("/_ping"))
                    .contains("User-Agent: " + ProductVersion.NAME + "/" + ProductVersion.VERSION);
        }
    }

    private static List<String> firstRequestHeaders(ServerSocket daemon) {
        try (Socket s = daemon.accept()) {
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            List<String> lines = new ArrayList<>();
            for (String line = in.readLine(); line != null && !line.isEmpty(); line = in.readLine()) {
                lines.add(line);
            }
            String answer = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            s.getOutputStream().write(answer.getBytes(StandardCharsets.US_ASCII));
            return lines;
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }
}
