package io.mcpsandbox.record;

import io.mcpsandbox.host.DeleteTree;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import redis.clients.jedis.Jedis;

/**
 * One real redis-server ({@link RedisServerProcess}, not persistent, no password) for a test class: started before
 * its first test in a directory of its own, stopped and removed after its last. Use as
 * {@code @RegisterExtension static final RedisServerExtension redis = new RedisServerExtension();}.
 */
public final class RedisServerExtension implements BeforeAllCallback, AfterAllCallback {
    private Path dir;
    private RedisServerProcess process;

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        dir = Files.createTempDirectory("mcp-sandbox-test-redis-");
        process = new RedisServerProcess(dir, false, null).start();
    }

    @Override
    public void afterAll(ExtensionContext context) throws IOException {
        try {
            if (process != null) {
                process.close();
            }
        } finally {
            if (dir != null) {
                DeleteTree.delete(dir);
            }
        }
    }

    public String url() {
        return process.url();
    }

    /** A connection to it (the caller closes it). */
    public Jedis client() {
        return process.client();
    }

    /** Started again if a test stopped it. */
    public void ensureRunning() throws IOException, InterruptedException {
        process.ensureRunning();
    }

    /** Stops it, as an outage would (a test may start it again with {@link #ensureRunning}). */
    public void close() {
        process.close();
    }
}
