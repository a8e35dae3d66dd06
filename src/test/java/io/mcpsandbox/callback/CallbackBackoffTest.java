package io.mcpsandbox.callback;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.RepeatedTest;

class CallbackBackoffTest {
    @RepeatedTest(20)
    void doublesFromOneSecondWithJitterAndNeverExceedsFiveMinutes() {
        assertThat(CallbackSender.backoff(1)).isBetween(Duration.ofMillis(750), Duration.ofMillis(1250));
        assertThat(CallbackSender.backoff(2)).isBetween(Duration.ofMillis(1500), Duration.ofMillis(2500));
        assertThat(CallbackSender.backoff(4)).isBetween(Duration.ofMillis(6000), Duration.ofMillis(10000));
        assertThat(CallbackSender.backoff(9)).isBetween(Duration.ofMillis(192_000), Duration.ofMinutes(5));
        // Far past the cap: no overflow into a negative or tiny wait.
        assertThat(CallbackSender.backoff(100)).isBetween(Duration.ofMillis(225_000), Duration.ofMinutes(5));
    }
}
