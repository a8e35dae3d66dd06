package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.model.ExecutionRequest;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A work stream entry is run only when it is whole, bounded and signed with the cluster secret. */
class ClusterWorkEntryTest {
    private static final ClusterSecret SECRET = ClusterSecret.of("work-entry-test-secret-0123456789abcdef");
    private static final ExecutionRequest REQUEST = ExecutionRequest.builder().command("sh", "-c", "echo 7")
            .userId("alice").build();

    private static Map<String, String> signed(ExecutionRequest request) {
        return new HashMap<>(WorkEntry.fields("e-1", "node-a", 1_700_000_000_000L, WorkEntry.json(request), SECRET));
    }

    @Test
    void aSignedEntryReadsBackAsItsRequest() throws Exception {
        WorkEntry e = WorkEntry.parse(signed(REQUEST), SECRET);
        assertThat(e.executionId()).isEqualTo("e-1");
        assertThat(e.origin()).isEqualTo("node-a");
        assertThat(e.writtenAt()).isEqualTo(1_700_000_000_000L);
        assertThat(e.request()).isEqualTo(REQUEST);
    }

    @Test
    void anEntryOfAnotherSecretOrAlteredIsRefused() {
        Map<String, String> other = new HashMap<>(WorkEntry.fields("e-1", "node-a", 1L, WorkEntry.json(REQUEST),
                ClusterSecret.of("another-secret-of-the-right-length-0123456789")));
        assertThatThrownBy(() -> WorkEntry.parse(other, SECRET)).isInstanceOf(WorkEntry.Refused.class)
                .hasMessageContaining("not signed");

        for (String field : new String[] {"id", "origin", "at", "req"}) {
            Map<String, String> altered = signed(REQUEST);
            String value = altered.get(field);
            altered.put(field, field.equals("req") ? value.replace("alice", "mallory")
                    : field.equals("at") ? "2" : value + "x");
            assertThatThrownBy(() -> WorkEntry.parse(altered, SECRET)).as(field)
                    .isInstanceOf(WorkEntry.Refused.class).hasMessageContaining("not signed");
        }
        Map<String, String> badSig = signed(REQUEST);
        badSig.put("sig", "zz" + badSig.get("sig").substring(2));
        assertThatThrownBy(() -> WorkEntry.parse(badSig, SECRET)).isInstanceOf(WorkEntry.Refused.class);
    }

    @Test
    void missingExtraOrMalformedFieldsAreRefused() {
        assertThatThrownBy(() -> WorkEntry.parse(Map.of(), SECRET)).isInstanceOf(WorkEntry.Refused.class);
        assertThatThrownBy(() -> WorkEntry.parse(null, SECRET)).isInstanceOf(WorkEntry.Refused.class);
        for (String field : new String[] {"v", "id", "origin", "at", "req", "sig"}) {
            Map<String, String> missing = signed(REQUEST);
            missing.remove(field);
            assertThatThrownBy(() -> WorkEntry.parse(missing, SECRET)).as(field)
                    .isInstanceOf(WorkEntry.Refused.class).hasMessageContaining("fields");
        }
        Map<String, String> extra = signed(REQUEST);
        extra.put("more", "x");
        assertThatThrownBy(() -> WorkEntry.parse(extra, SECRET)).isInstanceOf(WorkEntry.Refused.class);

        Map<String, String> version = signed(REQUEST);
        version.put("v", "2");
        assertThatThrownBy(() -> WorkEntry.parse(version, SECRET)).hasMessageContaining("version");

        // Signed, but not what a node writes: an id or origin that is not one, a time that is not a number.
        assertThatThrownBy(() -> WorkEntry.parse(new HashMap<>(WorkEntry.fields("../../x", "node-a", 1L,
                WorkEntry.json(REQUEST), SECRET)), SECRET)).hasMessageContaining("execution id");
        assertThatThrownBy(() -> WorkEntry.parse(new HashMap<>(WorkEntry.fields("e-1", "node a\n", 1L,
                WorkEntry.json(REQUEST), SECRET)), SECRET)).hasMessageContaining("node id");
        Map<String, String> at = new LinkedHashMap<>(WorkEntry.fields("e-1", "node-a", 1L, WorkEntry.json(REQUEST),
                SECRET));
        at.put("at", "-1");
        assertThatThrownBy(() -> WorkEntry.parse(at, SECRET)).hasMessageContaining("time");
    }

    @Test
    void aSignedRequestThatDoesNotParseOrHasNoUserOrASessionIsRefused() {
        assertThatThrownBy(() -> WorkEntry.parse(new HashMap<>(WorkEntry.fields("e-1", "node-a", 1L,
                "{\"command\":[\"id\"],\"userId\":\"alice\",\"unknown\":1}", SECRET)), SECRET))
                .hasMessageContaining("does not parse");
        assertThatThrownBy(() -> WorkEntry.parse(new HashMap<>(WorkEntry.fields("e-1", "node-a", 1L, "[1,2",
                SECRET)), SECRET)).hasMessageContaining("does not parse");
        assertThatThrownBy(() -> WorkEntry.parse(signed(ExecutionRequest.builder().command("id").build()), SECRET))
                .hasMessageContaining("user");
        assertThatThrownBy(() -> WorkEntry.parse(signed(REQUEST.toBuilder().sessionId("s-1").build()), SECRET))
                .hasMessageContaining("session");
    }

    @Test
    void anOversizedRequestIsNotSpilledAndAnOversizedEntryIsRefused() {
        ExecutionRequest big = REQUEST.toBuilder().file("big.txt", "x".repeat(WorkEntry.MAX_REQUEST_CHARS)).build();
        assertThat(WorkEntry.json(big)).isNull();
        String huge = "{\"command\":[\"id\"],\"userId\":\"alice\",\"stdin\":\""
                + "x".repeat(WorkEntry.MAX_REQUEST_CHARS) + "\"}";
        assertThatThrownBy(() -> WorkEntry.parse(new HashMap<>(WorkEntry.fields("e-1", "node-a", 1L, huge, SECRET)),
                SECRET)).hasMessageContaining("over");
    }

    @Test
    void theIdOfARefusedEntryIsReadOnlyWhenItIsOne() {
        assertThat(WorkEntry.idOf(Map.of("id", "e-1"))).isEqualTo("e-1");
        assertThat(WorkEntry.idOf(Map.of("id", "a b"))).isNull();
        assertThat(WorkEntry.idOf(null)).isNull();
    }
}
