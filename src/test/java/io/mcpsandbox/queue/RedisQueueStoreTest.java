package io.mcpsandbox.queue;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.record.RedisServerProcess;
import io.mcpsandbox.testing.SystemTest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/** The queue in a real redis-server of the class's own. */
@SystemTest
class RedisQueueStoreTest extends QueueStoreContract {
    private static Path serverDir;
    private static RedisServerProcess server;
    private final String queueId = "q-" + System.nanoTime();

    @BeforeAll
    static void startRedis() throws Exception {
        serverDir = Files.createTempDirectory("redis-queue-test");
        server = new RedisServerProcess(serverDir, true, "queue-pw").start();
    }

    @AfterAll
    static void stopRedis() throws Exception {
        if (server != null) {
            server.close();
        }
        DeleteTree.delete(serverDir);
    }

    @BeforeEach
    void empty() throws Exception {
        server.ensureRunning();
        try (Jedis jedis = server.client()) {
            jedis.flushAll();
        }
    }

    @Override
    QueueStore open() {
        return new RedisQueueStore(server.url(), queueId, Duration.ofSeconds(2), 4);
    }

    @Override
    QueueStore reopen() {
        return open();
    }

    @Test
    void queuesOfTwoDataDirectoriesSharingARedisAreSeparate() {
        try (QueueStore mine = open();
             QueueStore theirs = new RedisQueueStore(server.url(), "other-" + queueId, Duration.ofSeconds(2), 2)) {
            mine.add(List.of(new QueueStore.Entry(new QueuedItem("a", "alice", 0, 1, Instant.now(), 1),
                    new byte[] {1})));
            assertThat(theirs.items()).isEmpty();
            assertThat(theirs.request("a")).isEmpty();
            assertThat(mine.items()).hasSize(1);
            assertThat(mine.describe()).doesNotContain("queue-pw");
        }
    }
}
