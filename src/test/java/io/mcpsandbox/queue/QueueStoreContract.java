package io.mcpsandbox.queue;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.callback.PendingCallback;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.SecurityLevel;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** What every {@link QueueStore} does; run once per implementation (SQLite, Redis). */
abstract class QueueStoreContract {

    /** A new, empty store; opened again over the same data by {@link #reopen}. */
    abstract QueueStore open();

    abstract QueueStore reopen();

    private static QueueStore.Entry entry(String user, int priority, long sequence, String body) {
        return new QueueStore.Entry(new QueuedItem(UUID.randomUUID().toString(), user, priority, sequence,
                Instant.now().truncatedTo(ChronoUnit.MILLIS), body.length()), body.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void itemsComeBackInAcceptanceOrderWithTheirRequestsAfterAReopen() {
        List<QueueStore.Entry> entries = new ArrayList<>();
        try (QueueStore store = open()) {
            for (int i = 0; i < 50; i++) {
                entries.add(entry(i % 3 == 0 ? "alice" : "bob", i % 5, 1000 - i * 10L, "body-" + i));
            }
            store.add(entries);
        }
        try (QueueStore store = reopen()) {
            List<QueuedItem> items = store.items();
            assertThat(items).hasSize(50);
            assertThat(items).extracting(QueuedItem::sequence).isSorted();
            assertThat(items).containsExactlyInAnyOrderElementsOf(entries.stream().map(QueueStore.Entry::item)
                    .toList());
            QueueStore.Entry first = entries.get(7);
            assertThat(store.request(first.item().executionId())).hasValueSatisfying(b ->
                    assertThat(new String(b, StandardCharsets.UTF_8)).isEqualTo("body-7"));
        }
    }

    @Test
    void removeIsIdempotentAndForgetsTheRequest() {
        try (QueueStore store = open()) {
            QueueStore.Entry e = entry("alice", 0, 1, "x");
            store.add(List.of(e));
            store.remove(e.item().executionId());
            store.remove(e.item().executionId());
            assertThat(store.items()).isEmpty();
            assertThat(store.request(e.item().executionId())).isEmpty();
        }
    }

    @Test
    void aBatchWithAnIdAlreadyQueuedLeavesNoDuplicate() {
        try (QueueStore store = open()) {
            QueueStore.Entry e = entry("alice", 0, 1, "x");
            store.add(List.of(e));
            QueueStore.Entry again = new QueueStore.Entry(new QueuedItem(e.item().executionId(), "alice", 0, 3,
                    Instant.now(), 1), new byte[] {1});
            List<QueueStore.Entry> batch = List.of(entry("bob", 0, 2, "y"), again);
            try {
                store.add(batch);
            } catch (RuntimeException expected) {
                // SQLite refuses the duplicate key; Redis overwrites: either way nothing is half-written below
            }
            List<QueuedItem> items = store.items();
            assertThat(items.stream().map(QueuedItem::executionId).distinct().count()).isEqualTo(items.size());
        }
    }

    @Test
    void theCallbackOutboxUpsertsForgetsAndSurvivesAReopen() {
        Instant next = Instant.now().truncatedTo(ChronoUnit.MILLIS);
        try (QueueStore store = open()) {
            store.callbacks().save(new PendingCallback("e1", "https://cb.example.org/a?x=1", 0, next));
            store.callbacks().save(new PendingCallback("e2", "http://cb.example.org:8080/b", 2, next));
            store.callbacks().save(new PendingCallback("e1", "https://cb.example.org/a?x=1", 3, next.plusSeconds(4)));
            store.callbacks().remove("e2");
            store.callbacks().remove("never-there");
        }
        try (QueueStore store = reopen()) {
            assertThat(store.callbacks().pending()).containsExactly(
                    new PendingCallback("e1", "https://cb.example.org/a?x=1", 3, next.plusSeconds(4)));
        }
    }

    @Test
    void aRequestSurvivesTheRoundTripThroughItsStoredForm() {
        ExecutionRequest request = ExecutionRequest.builder().language("python").code("print('é')")
                .file("data/in.txt", "x").stdin("in").image("host").runtime("runc").securityLevel(SecurityLevel.HIGH)
                .limits(new LimitsRequest(1000L, 64L << 20, 0.5, 32, 4096L)).env("A", "b").workDir("/workspace/x")
                .userId("alice").dlpMode(io.mcpsandbox.model.DlpMode.REDACT).background(true).keepStdinOpen(true)
                .priority(7).callbackUrl("https://cb.example.org/hook").build();
        byte[] stored = QueuedRequests.write(request);
        assertThat(QueuedRequests.read(stored)).isEqualTo(request);
        try (QueueStore store = open()) {
            QueueStore.Entry e = new QueueStore.Entry(new QueuedItem("id-1", "alice", 7, 1, Instant.now(),
                    stored.length), stored);
            store.add(List.of(e));
            assertThat(store.request("id-1").map(QueuedRequests::read)).contains(request);
        }
    }
}
