package io.mcpsandbox.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.execution.Admission;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Admission limits without sandboxes: who gets a slot, who waits, who is refused. */
class AdmissionTest {
    @Test
    void perUserAndGlobalLimitsWithABoundedQueue() throws Exception {
        try (Admission admission = new Admission(2, 2, 1, Duration.ofSeconds(30))) {
            Admission.Permit a1 = admission.acquire("a").getNow(null);
            Admission.Permit a2 = admission.acquire("a").getNow(null);
            assertThat(a1).isNotNull();
            assertThat(a2).isNotNull();
            assertRejected(admission.acquire("a"), "admission.max-per-user");

            CompletableFuture<Admission.Permit> b1 = admission.acquire("b");
            assertThat(b1).isNotDone(); // queued: both slots are taken
            assertRejected(admission.acquire("c"), "admission.queue-size");

            a1.close();
            a1.close(); // twice is harmless
            Admission.Permit b = b1.get(5, TimeUnit.SECONDS);
            assertThat(admission.running()).isEqualTo(2);
            assertThat(admission.queued()).isZero();
            b.close();
            a2.close();
            assertThat(admission.running()).isZero();
        }
    }

    @Test
    void aQueuedRequestIsRefusedAfterTheQueueTimeoutAndACancelledOneLeavesTheQueue() throws Exception {
        try (Admission admission = new Admission(1, 5, 5, Duration.ofMillis(200))) {
            Admission.Permit held = admission.acquire("a").getNow(null);
            assertRejected(admission.acquire("b"), "admission.queue-timeout");
            CompletableFuture<Admission.Permit> cancelled = admission.acquire("b");
            cancelled.cancel(false);
            assertThat(admission.queued()).isZero();
            held.close();
            assertThat(admission.running()).isZero();
            assertThat(admission.acquire("b").getNow(null)).isNotNull();
        }
    }

    private static void assertRejected(CompletableFuture<Admission.Permit> f, String limit) throws Exception {
        try {
            f.get(5, TimeUnit.SECONDS);
            throw new AssertionError("expected a refusal naming " + limit);
        } catch (ExecutionException e) {
            assertThat(e.getCause()).isInstanceOf(Admission.Rejected.class).hasMessageContaining(limit);
            assertThat(((Admission.Rejected) e.getCause()).retryAfter()).isPositive();
        }
    }
}
