package io.mcpsandbox.api.mcp;

import io.mcpsandbox.api.SandboxApi;
import io.modelcontextprotocol.json.McpJsonDefaults;
import io.modelcontextprotocol.server.McpAsyncServer;
import io.modelcontextprotocol.server.transport.StdioServerTransportProvider;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * MCP over stdin/stdout for one local client. Its lifetime is stdin's: when the client closes it, the server
 * is done ({@link #awaitEndOfInput}).
 */
public final class StdioMcpServer implements AutoCloseable {
    private final McpAsyncServer server;
    private final CountDownLatch endOfInput;

    private StdioMcpServer(McpAsyncServer server, CountDownLatch endOfInput) {
        this.server = server;
        this.endOfInput = endOfInput;
    }

    /**
     * @param out  the real stdout: JSON-RPC only goes there
     * @param user every execution's user: the local user
     */
    public static StdioMcpServer start(SandboxApi api, InputStream in, OutputStream out, String user) {
        CountDownLatch eof = new CountDownLatch(1);
        StdioServerTransportProvider transport = new StdioServerTransportProvider(McpJsonDefaults.getMapper(),
                new EofSignal(in, eof), out);
        return new StdioMcpServer(McpServers.stdio(transport, new SandboxTools(api, exchange -> user),
                new SessionTools(api, exchange -> user), new SessionResources(api, exchange -> user)), eof);
    }

    public void awaitEndOfInput() throws InterruptedException {
        endOfInput.await();
    }

    public boolean awaitEndOfInput(Duration timeout) throws InterruptedException {
        return endOfInput.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        server.closeGracefully().block(Duration.ofSeconds(5));
    }

    /** Counts the latch down when the stream ends or fails: the SDK transport has no such callback. */
    private static final class EofSignal extends FilterInputStream {
        private final CountDownLatch eof;

        EofSignal(InputStream in, CountDownLatch eof) {
            super(in);
            this.eof = eof;
        }

        @Override
        public int read() throws IOException {
            return check(() -> super.read());
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            return check(() -> super.read(b, off, len));
        }

        private interface Read {
            int read() throws IOException;
        }

        private int check(Read read) throws IOException {
            try {
                int n = read.read();
                if (n < 0) {
                    eof.countDown();
                }
                return n;
            } catch (IOException e) {
                eof.countDown();
                throw e;
            }
        }
    }
}
