package io.mcpsandbox.api.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpServletRequest;
import java.lang.management.ManagementFactory;
import java.lang.reflect.Proxy;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.json.JsonMapper;

/** Bodies are read by what arrives, never allocated by what a client declares. */
class HttpJsonTest {
    private static final long LIMIT = 16L << 20;

    @Test
    void aDeclaredLengthAllocatesNothingUntilTheBytesArrive() throws Exception {
        HttpJson http = new HttpJson(JsonMapper.builder().build(), LIMIT);
        HttpServletRequest request = request(LIMIT - 1, "{\"a\":1}".getBytes());
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        http.readBody(request); // warm up class loading
        long before = threads.getCurrentThreadAllocatedBytes();
        byte[] body = http.readBody(request(LIMIT - 1, "{\"a\":1}".getBytes()));
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertThat(body).asString().isEqualTo("{\"a\":1}");
        // Before: a buffer of the declared 16 MiB for a 7-byte body.
        assertThat(allocated).as("bytes allocated for a 7-byte body declared as 16 MiB").isLessThan(256 * 1024);
    }

    @Test
    void aBodyOverTheLimitIsRefusedWhetherDeclaredOrNot() {
        HttpJson http = new HttpJson(JsonMapper.builder().build(), 1024);
        assertThatThrownBy(() -> http.readBody(request(4096, new byte[10])))
                .isInstanceOf(HttpJson.TooLarge.class).hasMessageContaining("1024 bytes (server.max-request-bytes)");
        assertThatThrownBy(() -> http.readBody(request(-1, new byte[5000])))
                .isInstanceOf(HttpJson.TooLarge.class).hasMessageContaining("server.max-request-bytes");
    }

    private static HttpServletRequest request(long declared, byte[] content) {
        ServletInputStream stream = new McpRequestFilter.BytesInputStream(content);
        return (HttpServletRequest) Proxy.newProxyInstance(HttpJsonTest.class.getClassLoader(),
                new Class<?>[] {HttpServletRequest.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "getContentLengthLong" -> declared;
                    case "getContentLength" -> (int) declared;
                    case "getInputStream" -> stream;
                    default -> throw new UnsupportedOperationException(method.getName());
                });
    }
}
