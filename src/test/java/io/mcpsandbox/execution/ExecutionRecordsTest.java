package io.mcpsandbox.execution;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.testing.TestSandbox;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every execution is recorded at start and end in the configured store, rejections included. */
class ExecutionRecordsTest {
    private static TestSandbox sandbox;

    @BeforeAll
    static void start() {
        sandbox = TestSandbox.start();
    }

    @AfterAll
    static void stop() throws Exception {
        sandbox.close();
    }

    @Test
    void aFinishedExecutionIsRecordedWithItsResult() {
        ExecutionResult r = sandbox.run(ExecutionRequest.builder().language("python").code("print('x' * 10)")
                .userId("ada").sessionId("s-1").build());
        ExecutionRecord rec = sandbox.services().store().find(r.executionId()).orElseThrow();
        assertThat(rec.userId()).isEqualTo("ada");
        assertThat(rec.sessionId()).isEqualTo("s-1");
        assertThat(rec.image()).isEqualTo("host");
        assertThat(rec.runtime()).isEqualTo("runc");
        assertThat(rec.securityLevel()).isEqualTo(SecurityLevel.MEDIUM);
        assertThat(rec.command()).containsExactly("python3", "/workspace/main.py");
        assertThat(rec.language()).isEqualTo("python");
        assertThat(rec.status()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(rec.exitCode()).isZero();
        assertThat(rec.outputBytes()).isEqualTo(11);
        assertThat(rec.endedAt()).isAfterOrEqualTo(rec.startedAt());
        assertThat(rec.result()).isEqualTo(r);
        assertThat(sandbox.services().executions().find(r.executionId())).contains(r);
    }

    @Test
    void aRejectionIsRecordedToo() {
        ExecutionResult r = sandbox.run(ExecutionRequest.builder().command("true").userId("bob")
                .limits(new LimitsRequest(-1L, null, null, null, null)).build());
        assertThat(r.status()).isEqualTo(ExecutionStatus.REJECTED);
        ExecutionRecord rec = sandbox.services().store().find(r.executionId()).orElseThrow();
        assertThat(rec.status()).isEqualTo(ExecutionStatus.REJECTED);
        assertThat(rec.result().reason()).startsWith("timeoutMs:");
    }

    @Test
    void aRunningExecutionIsRecordedAsRunning() throws Exception {
        var submission = sandbox.submit(ExecutionRequest.builder().command("sleep", "30").userId("cy").build());
        org.awaitility.Awaitility.await().until(() -> sandbox.services().store().find(submission.executionId()).isPresent());
        assertThat(sandbox.services().store().find(submission.executionId()).orElseThrow().status())
                .isEqualTo(ExecutionStatus.RUNNING);
        assertThat(sandbox.services().executions().find(submission.executionId()).orElseThrow().status())
                .isEqualTo(ExecutionStatus.RUNNING);
        sandbox.services().executions().terminate(submission.executionId());
        assertThat(submission.result().get().status()).isEqualTo(ExecutionStatus.TERMINATED);
        assertThat(sandbox.services().store().find(submission.executionId()).orElseThrow().status())
                .isEqualTo(ExecutionStatus.TERMINATED);
    }

    @Test
    void recordsOutliveTheServiceThatWroteThem() throws Exception {
        ExecutionResult r = sandbox.run(ExecutionRequest.builder().command("echo", "kept").userId("dee").build());
        // A second service on the same data directory (a restarted server, or the CLI) reads it back.
        try (var again = new SandboxServices(sandbox.services().config())) {
            assertThat(again.executions().find(r.executionId())).contains(r);
            List<ExecutionRecord> dees = again.executions().list("dee", 10);
            assertThat(dees).extracting(ExecutionRecord::executionId).containsExactly(r.executionId());
        }
    }
}
