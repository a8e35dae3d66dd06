package io.mcpsandbox.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.ConfigLoader;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.ResourceLimits;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A request's limits against the configured range: both ends are allowed, one step beyond is refused. */
class RequestLimitsTest {
    private final RequestValidator validator = new RequestValidator(new ConfigLoader(Map.of(
            ConfigLoader.ENV_DATA_DIR, "/nonexistent",
            "MCP_SANDBOX_LIMITS_MAX_TIMEOUT", "2m", "MCP_SANDBOX_LIMITS_MAX_MEMORY", "1g",
            "MCP_SANDBOX_LIMITS_MAX_CPUS", "2", "MCP_SANDBOX_LIMITS_MAX_PIDS", "200",
            "MCP_SANDBOX_LIMITS_MAX_OUTPUT", "32m")).load());

    private ResourceLimits limits(LimitsRequest limits) throws PolicyViolation {
        return validator.validate(ExecutionRequest.builder().command("true").limits(limits).build()).limits();
    }

    private void refused(LimitsRequest limits, String field, String message) {
        assertThatThrownBy(() -> limits(limits))
                .isInstanceOf(PolicyViolation.class)
                .satisfies(e -> assertThat(((PolicyViolation) e).field()).isEqualTo(field))
                .hasMessage(field + ": " + message);
    }

    @Test
    void theLowestAndHighestAllowedValuesAreTakenAsGiven() throws PolicyViolation {
        ResourceLimits low = limits(new LimitsRequest(1L, 16L << 20, 0.01, 8, 1L));
        assertThat(low.timeout()).isEqualTo(Duration.ofMillis(1));
        assertThat(low.memoryBytes()).isEqualTo(16L << 20);
        assertThat(low.cpus()).isEqualTo(0.01);
        assertThat(low.pids()).isEqualTo(8);
        assertThat(low.outputBytes()).isEqualTo(1);
        ResourceLimits high = limits(new LimitsRequest(120_000L, 1L << 30, 2.0, 200, 32L << 20));
        assertThat(high).isEqualTo(new ResourceLimits(Duration.ofMinutes(2), 1L << 30, 2.0, 200, 32L << 20,
                64L << 20, 1024));
    }

    @Test
    void whatARequestCannotSetIsTheConfiguredDefault() throws PolicyViolation {
        ResourceLimits given = limits(new LimitsRequest(5_000L, null, null, null, null));
        assertThat(given.timeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(given.memoryBytes()).isEqualTo(256L << 20);
        assertThat(given.tmpBytes()).isEqualTo(64L << 20);
        assertThat(given.openFiles()).isEqualTo(1024);
    }

    @Test
    void oneStepBeyondEitherEndIsRefusedWithTheRangeAndItsKey() {
        refused(new LimitsRequest(0L, null, null, null, null), "timeoutMs",
                "0 is outside the allowed range 1 to 120000 (limits.max.timeout = 2m)");
        refused(new LimitsRequest(120_001L, null, null, null, null), "timeoutMs",
                "120001 is outside the allowed range 1 to 120000 (limits.max.timeout = 2m)");
        refused(new LimitsRequest(null, (16L << 20) - 1, null, null, null), "memoryBytes",
                "16777215 is outside the allowed range 16777216 to 1073741824 (limits.max.memory = 1g)");
        refused(new LimitsRequest(null, (1L << 30) + 1, null, null, null), "memoryBytes",
                "1073741825 is outside the allowed range 16777216 to 1073741824 (limits.max.memory = 1g)");
        refused(new LimitsRequest(null, null, 0.009, null, null), "cpus",
                "0.009 is outside the allowed range 0.01 to 2.0 (limits.max.cpus)");
        refused(new LimitsRequest(null, null, 2.01, null, null), "cpus",
                "2.01 is outside the allowed range 0.01 to 2.0 (limits.max.cpus)");
        refused(new LimitsRequest(null, null, Double.POSITIVE_INFINITY, null, null), "cpus",
                "Infinity is outside the allowed range 0.01 to 2.0 (limits.max.cpus)");
        refused(new LimitsRequest(null, null, null, 7, null), "pids",
                "7 is outside the allowed range 8 to 200 (limits.max.pids = 200)");
        refused(new LimitsRequest(null, null, null, 201, null), "pids",
                "201 is outside the allowed range 8 to 200 (limits.max.pids = 200)");
        refused(new LimitsRequest(null, null, null, null, (32L << 20) + 1), "outputBytes",
                "33554433 is outside the allowed range 1 to 33554432 (limits.max.output = 32m)");
        refused(new LimitsRequest(null, null, null, null, Long.MIN_VALUE), "outputBytes",
                Long.MIN_VALUE + " is outside the allowed range 1 to 33554432 (limits.max.output = 32m)");
    }
}
