package io.mcpsandbox.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.model.SecurityEvent.Severity;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The result's factories and with-copies: each copy changes what it names and nothing else. */
class ExecutionResultTest {
    private static final SecurityEvent EVENT = new SecurityEvent(Instant.parse("2025-01-02T03:04:05Z"),
            "sandbox.oom_kill", Severity.MEDIUM, "the kernel killed a process at the memory limit",
            Map.of("memoryBytes", 1024));
    private static final ResourceUsage USAGE = new ResourceUsage(120, 12.5, 4096, NetworkIO.NONE);

    /** A result with every field set and none at its default. */
    private static final ExecutionResult FULL = new ExecutionResult("id-1", ExecutionStatus.OOM_KILLED, 137, "out",
            "err", true, false, 960, "runsc", SecurityLevel.HIGH, "python", USAGE, List.of(EVENT), "killed", "2",
            "restarted", false, List.of(), List.of());

    @Test
    void runningIsAnEmptyPlaceholder() {
        ExecutionResult r = ExecutionResult.running("id-1", "runc", SecurityLevel.MEDIUM, "alpine", 42);

        assertThat(r).isEqualTo(new ExecutionResult("id-1", ExecutionStatus.RUNNING, null, "", "", false, false, 42,
                "runc", SecurityLevel.MEDIUM, "alpine", ResourceUsage.NONE, List.of(), null,
                null, null, false, List.of(), List.of()));
    }

    @Test
    void notRunHasItsStatusReasonAndEventsAndNoExitCodeOutputOrUsage() {
        ExecutionResult r = ExecutionResult.notRun("id-1", ExecutionStatus.REJECTED, "policy.x: no", null,
                SecurityLevel.LOW, "alpine", 7, List.of(EVENT));

        assertThat(r).isEqualTo(new ExecutionResult("id-1", ExecutionStatus.REJECTED, null, "", "", false, false, 7,
                null, SecurityLevel.LOW, "alpine", ResourceUsage.NONE, List.of(EVENT), "policy.x: no",
                null, null, false, List.of(), List.of()));
    }

    @Test
    void withStatusChangesStatusExitCodeAndReasonOnly() {
        ExecutionResult r = FULL.withStatus(ExecutionStatus.COMPLETED, 0, null);

        assertThat(r).isEqualTo(new ExecutionResult("id-1", ExecutionStatus.COMPLETED, 0, "out", "err", true, false,
                960, "runsc", SecurityLevel.HIGH, "python", USAGE, List.of(EVENT), null,
                "2", "restarted", false, List.of(), List.of()));
    }

    @Test
    void withOutputChangesTheStreamsAndKeepsTheTruncationFlags() {
        ExecutionResult r = FULL.withOutput("[REDACTED]", "");

        assertThat(r).isEqualTo(new ExecutionResult("id-1", ExecutionStatus.OOM_KILLED, 137, "[REDACTED]", "", true,
                false, 960, "runsc", SecurityLevel.HIGH, "python", USAGE, List.of(EVENT), "killed",
                "2", "restarted", false, List.of(), List.of()));
    }

    @Test
    void withOutputAndFlagsChangesTheStreamsAndTheFlags() {
        ExecutionResult r = FULL.withOutput("", "e", false, true);

        assertThat(r).isEqualTo(new ExecutionResult("id-1", ExecutionStatus.OOM_KILLED, 137, "", "e", false, true,
                960, "runsc", SecurityLevel.HIGH, "python", USAGE, List.of(EVENT), "killed",
                "2", "restarted", false, List.of(), List.of()));
    }

    @Test
    void withOutputOfNullIsEmptyOutput() {
        ExecutionResult r = FULL.withOutput(null, null);

        assertThat(r.stdout()).isEmpty();
        assertThat(r.stderr()).isEmpty();
    }

    @Test
    void withResourceUsageChangesTheUsageOnly() {
        ResourceUsage other = new ResourceUsage(1, 0.1, 2, NetworkIO.NONE);

        assertThat(FULL.withResourceUsage(other)).isEqualTo(new ExecutionResult("id-1", ExecutionStatus.OOM_KILLED,
                137, "out", "err", true, false, 960, "runsc", SecurityLevel.HIGH, "python", other, List.of(EVENT),
                "killed", "2", "restarted", false, List.of(), List.of()));
    }

    @Test
    void withSecurityEventsReplacesTheEventsWithAnUnmodifiableCopy() {
        List<SecurityEvent> events = new ArrayList<>(List.of(EVENT, EVENT));
        ExecutionResult r = FULL.withSecurityEvents(events);
        events.clear();

        assertThat(r).isEqualTo(new ExecutionResult("id-1", ExecutionStatus.OOM_KILLED, 137, "out", "err", true,
                false, 960, "runsc", SecurityLevel.HIGH, "python", USAGE, List.of(EVENT, EVENT), "killed",
                "2", "restarted", false, List.of(), List.of()));
        assertThat(FULL.withSecurityEvents(null).securityEvents()).isEmpty();
    }

    @Test
    void withResultTextAndWithImagesChangeOnlyThose() {
        ExecutionResult r = FULL.withResultText(null, "n").withImages(List.of(new OutputImage("/workspace/a.png",
                "image/png", 3, new byte[] {1, 2, 3})), List.of("b.png: too large"));

        assertThat(r.result()).isNull();
        assertThat(r.notice()).isEqualTo("n");
        assertThat(r.images()).hasSize(1);
        assertThat(r.imageNotes()).containsExactly("b.png: too large");
        assertThat(r.withStatus(ExecutionStatus.COMPLETED, 0, null).withResultText("2", "restarted")
                .withImages(List.of(), List.of())).isEqualTo(FULL.withStatus(ExecutionStatus.COMPLETED, 0, null));
    }

    @Test
    void copiesLeaveTheOriginalAsItWas() {
        FULL.withStatus(ExecutionStatus.ERROR, null, "x").withOutput("", "").withSecurityEvents(List.of());

        assertThat(FULL.status()).isEqualTo(ExecutionStatus.OOM_KILLED);
        assertThat(FULL.stdout()).isEqualTo("out");
        assertThat(FULL.securityEvents()).containsExactly(EVENT);
    }

    /**
     * The JSON form is a contract: the with-copies add no property; a null reason, result and notice are left
     * out; images never go into it (they are MCP content).
     */
    @Test
    void theJsonFormHasExactlyTheResultsFields() {
        JsonMapper json = JsonMapper.builder().build();
        List<String> fields = List.of("executionId", "status", "exitCode", "stdout", "stderr", "stdoutTruncated",
                "stderrTruncated", "durationMs", "runtime", "securityLevel", "image", "resourceUsage",
                "securityEvents", "pooled");

        JsonNode full = json.valueToTree(FULL.withImages(List.of(new OutputImage("/workspace/a.png", "image/png", 1,
                new byte[] {1})), List.of("note")));
        JsonNode noReason = json.valueToTree(FULL.withStatus(ExecutionStatus.COMPLETED, 0, null)
                .withResultText(null, null));

        assertThat(full.propertyNames()).containsExactlyInAnyOrderElementsOf(
                concat(concat(concat(fields, "reason"), "result"), "notice"));
        assertThat(noReason.propertyNames()).containsExactlyInAnyOrderElementsOf(fields);
        assertThat(full.get("status").asString()).isEqualTo("oom_killed");
        assertThat(json.readValue(json.writeValueAsString(FULL), ExecutionResult.class)).isEqualTo(FULL);
    }

    private static List<String> concat(List<String> list, String more) {
        List<String> all = new ArrayList<>(list);
        all.add(more);
        return all;
    }
}
