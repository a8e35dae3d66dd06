package io.mcpsandbox.queue;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.record.RedisServerProcess;
import io.mcpsandbox.testing.SystemTest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
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

    @Test
    void anItemMovesFromAnotherQueueWholeAndOnlyWhileTheGuardKeyIsAbsent() {
        byte[] binary = new byte[70_000];
        for (int i = 0; i < binary.length; i++) {
            binary[i] = (byte) i; // every byte value, NUL included
        }
        Instant queuedAt = Instant.ofEpochMilli(Instant.now().toEpochMilli());
        try (RedisQueueStore mine = (RedisQueueStore) open();
             RedisQueueStore theirs = new RedisQueueStore(server.url(), "lost-" + queueId, Duration.ofSeconds(2), 2);
             Jedis jedis = server.client()) {
            theirs.add(List.of(new QueueStore.Entry(new QueuedItem("x1", "alice", 7, 3, queuedAt, binary.length),
                            binary),
                    new QueueStore.Entry(new QueuedItem("x2", "bob", 0, 4, queuedAt, 1), new byte[] {9})));
            assertThat(mine.itemsOf(theirs.queueId())).extracting(QueuedItem::executionId).containsExactly("x1", "x2");

            jedis.set("guard", "alive");
            RedisQueueStore.Move held = mine.moveFrom(theirs.queueId(), "x1", 100, "guard");
            assertThat(held.guarded()).isTrue();
            assertThat(held.item()).isNull();
            assertThat(theirs.items()).hasSize(2);
            assertThat(mine.items()).isEmpty();

            jedis.del("guard");
            RedisQueueStore.Move moved = mine.moveFrom(theirs.queueId(), "x1", 100, "guard");
            assertThat(moved.guarded()).isFalse();
            assertThat(moved.item()).isEqualTo(new QueuedItem("x1", "alice", 7, 100, queuedAt, binary.length));
            assertThat(mine.items()).containsExactly(moved.item());
            assertThat(mine.request("x1")).hasValueSatisfying(b -> assertThat(b).isEqualTo(binary));
            assertThat(theirs.items()).extracting(QueuedItem::executionId).containsExactly("x2");
            assertThat(theirs.request("x1")).isEmpty();

            RedisQueueStore.Move again = mine.moveFrom(theirs.queueId(), "x1", 101, "guard");
            assertThat(again.item()).isNull();
            assertThat(again.guarded()).isFalse();
            assertThat(mine.items()).hasSize(1);
        }
    }

    @Test
    void twoServersTakingOverTheSameQueueAtOnceGetEachItemOnce() throws Exception {
        try (RedisQueueStore lost = new RedisQueueStore(server.url(), "lost-" + queueId, Duration.ofSeconds(2), 2);
             RedisQueueStore one = new RedisQueueStore(server.url(), "one-" + queueId, Duration.ofSeconds(2), 4);
             RedisQueueStore two = new RedisQueueStore(server.url(), "two-" + queueId, Duration.ofSeconds(2), 4)) {
            List<QueueStore.Entry> entries = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                entries.add(new QueueStore.Entry(new QueuedItem("e" + i, "u", 0, i, Instant.now(), 1),
                        new byte[] {(byte) i}));
            }
            lost.add(entries);
            List<String> taken = new CopyOnWriteArrayList<>();
            List<CompletableFuture<Void>> takers = List.of(one, two).stream().map(s -> CompletableFuture.runAsync(
                    () -> {
                        for (QueuedItem i : s.itemsOf(lost.queueId())) {
                            RedisQueueStore.Move m = s.moveFrom(lost.queueId(), i.executionId(), i.sequence(), "g");
                            if (m.item() != null) {
                                taken.add(m.item().executionId());
                            }
                        }
                    })).toList();
            takers.forEach(CompletableFuture::join);
            assertThat(taken).hasSize(200).doesNotHaveDuplicates();
            assertThat(one.items().size() + two.items().size()).isEqualTo(200);
            assertThat(lost.items()).isEmpty();
        }
    }
}
