package io.mcpsandbox.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.json.JsonMapper;

/**
 * A record (and its result) names the cluster node that ran it in an optional {@code node}: absent from the JSON
 * when there is none, kept by every copy, and a record or result written before it existed still reads.
 */
class ExecutionRecordNodeTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private static ExecutionRecord started() {
        return ExecutionRecord.started("exec-1", "alice", null, "host", "runc", SecurityLevel.MEDIUM,
                List.of("echo", "hi"), null, Instant.parse("2026-01-02T03:04:05Z"));
    }

    @Test
    void withoutANodeTheJsonHasNoNodeField() throws Exception {
        ExecutionRecord r = started();
        assertThat(r.node()).isNull();
        assertThat(JSON.readTree(JSON.writeValueAsString(r)).has("node")).isFalse();
        ExecutionResult result = ExecutionResult.running("exec-1", "runc", SecurityLevel.MEDIUM, "host", 1);
        assertThat(JSON.readTree(JSON.writeValueAsString(result)).has("node")).isFalse();
    }

    @Test
    void aNodeIsKeptByEveryCopyAndRoundTrips() throws Exception {
        ExecutionRecord r = started().withNode("node-a");
        ExecutionResult ran = ExecutionResult.notRun("exec-1", ExecutionStatus.ERROR, "x", "runc",
                SecurityLevel.MEDIUM, "host", 3, List.of()).withNode("node-a");
        ExecutionRecord ended = r.ended(ran, Instant.parse("2026-01-02T03:04:06Z"));
        assertThat(List.of(ended, ended.summary(), ended.withoutResult(), ended.withRequest(null),
                r.cutOff("gone", Instant.parse("2026-01-02T03:04:07Z")))).extracting(ExecutionRecord::node)
                .containsOnly("node-a");
        assertThat(List.of(ran.withOutput("o", "e"), ran.withPooled(true), ran.withStatus(ExecutionStatus.ERROR, 1,
                "y"), ran.withResultText("v", null), ran.withSecurityEvents(List.of())))
                .extracting(ExecutionResult::node).containsOnly("node-a");
        String json = JSON.writeValueAsString(ended);
        assertThat(JSON.readTree(json).get("node").asString()).isEqualTo("node-a");
        assertThat(JSON.readTree(json).get("result").get("node").asString()).isEqualTo("node-a");
        assertThat(JSON.readValue(json, ExecutionRecord.class)).isEqualTo(ended);
    }

    @Test
    void aRecordWrittenBeforeNodesWereNamedStillReads() throws Exception {
        String old = """
                {"executionId":"old-1","userId":"alice","sessionId":null,"image":"host","runtime":"runc",
                 "securityLevel":"medium","command":["true"],"language":null,"startedAt":"2026-01-02T03:04:05Z",
                 "endedAt":"2026-01-02T03:04:06Z","status":"completed","exitCode":0,"durationMs":5,"outputBytes":0,
                 "securityEvents":[],"result":{"executionId":"old-1","status":"completed","exitCode":0,
                 "stdout":"","stderr":"","stdoutTruncated":false,"stderrTruncated":false,"durationMs":5,
                 "runtime":"runc","securityLevel":"medium","image":"host","resourceUsage":{},"securityEvents":[],
                 "pooled":false}}""";
        ExecutionRecord r = JSON.readValue(old, ExecutionRecord.class);
        assertThat(r.executionId()).isEqualTo("old-1");
        assertThat(r.node()).isNull();
        assertThat(r.result().node()).isNull();
        assertThat(r.result().status()).isEqualTo(ExecutionStatus.COMPLETED);
    }
}
