package io.mcpsandbox.execution;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every execution is recorded at start and end in the configured store, rejections included. */
@SystemTest
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
                .userId("ada").build());
        ExecutionRecord rec = sandbox.services().store().find(r.executionId()).orElseThrow();
        assertThat(rec.userId()).isEqualTo("ada");
        assertThat(rec.sessionId()).as("not run in a session (SessionSystemTest records those)").isNull();
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
    void aFloodOfControlBytesMakesARecordOfBoundedSize() {
        // 9 MiB of bytes 0x01-0x1f: ~54 MiB as JSON escapes, and hardly compressible below 5 bits a byte.
        ExecutionResult r = sandbox.run(ExecutionRequest.builder().language("python")
                .code("import os, sys\nsys.stdout.buffer.write(os.urandom(9 << 20)"
                        + ".translate(bytes(b % 31 + 1 for b in range(256))))")
                .userId("flood").build());
        assertThat(r.status()).as(r.reason() + " " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(r.stdout()).as("the live answer keeps the whole output").hasSize(9 << 20);
        assertThat(r.stdout().chars().allMatch(c -> c >= 1 && c <= 31)).as("only control bytes").isTrue();

        var store = (io.mcpsandbox.record.SqliteExecutionStore) sandbox.services().store();
        ExecutionRecord rec = store.find(r.executionId()).orElseThrow();
        assertThat(rec.outputBytes()).isEqualTo(9L << 20);
        ExecutionResult kept = rec.result();
        assertThat(kept.stdoutTruncated()).as("the stored copy says it is cut").isTrue();
        assertThat(kept.stdout().startsWith(r.stdout().substring(0, 1 << 20))).as("the stored copy's first MiB")
                .isTrue();
        assertThat(kept.stdout())
                .endsWith("[mcp-sandbox: the record keeps the first 1048576 of 9437184 bytes of stdout]");
        assertThat(kept.exitCode()).isZero();
        // The record's stored result: the first MiB compressed, not 54 MiB of escapes.
        assertThat(store.storedBytes("flood")).isPositive().isLessThan(1L << 20);
        assertThat(store.sizeBytes()).isLessThan(4L << 20);
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
        org.awaitility.Awaitility.await()
                .until(() -> sandbox.services().store().find(submission.executionId()).isPresent());
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
