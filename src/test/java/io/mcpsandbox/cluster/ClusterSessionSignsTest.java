package io.mcpsandbox.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import org.junit.jupiter.api.Test;

/** The owner entry and the routed header: only values made with the cluster secret, for exactly this use, pass. */
class ClusterSessionSignsTest {
    private static final ClusterSecret SECRET = ClusterSecret.of("signs-test-secret-0123456789abcdef-0123");
    private static final ClusterSecret OTHER = ClusterSecret.of("another-secret-0123456789abcdef-012345");
    private static final String SESSION = "0f8fad5b-d9cb-469f-a165-70867728950e";
    private static final String SESSION2 = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    private static final Instant NOW = Instant.parse("2026-12-03T11:00:00Z");

    private final ClusterSessionSigns signs = new ClusterSessionSigns(SECRET);

    @Test
    void anOwnerEntryVerifiesForItsSessionOnly() {
        String entry = signs.owner(SESSION, "node-a");
        assertThat(signs.ownerOf(SESSION, entry)).contains("node-a");
        // Copied to another session's key, it names nobody.
        assertThat(signs.ownerOf(SESSION2, entry)).isEmpty();
        // Made with another secret, or with the node id changed: nobody.
        assertThat(signs.ownerOf(SESSION, new ClusterSessionSigns(OTHER).owner(SESSION, "node-a"))).isEmpty();
        assertThat(signs.ownerOf(SESSION, "node-b" + entry.substring("node-a".length()))).isEmpty();
    }

    @Test
    void hostileOwnerEntriesNameNobody() {
        String sig = signs.owner(SESSION, "node-a").substring("node-a ".length());
        for (String hostile : new String[] {null, "", " ", "node-a", "node-a ", "node-a " + sig.toUpperCase(),
            "node-a " + sig + " ", "node-a  " + sig, "node-a\n" + sig, "../x " + sig, "node a " + sig,
            "node-a " + sig.substring(1), "x".repeat(100_000), "node-a " + "0".repeat(64)}) {
            assertThat(signs.ownerOf(SESSION, hostile)).as(String.valueOf(hostile)).isEmpty();
        }
        // A session id that is not a UUID is never looked up.
        assertThat(signs.ownerOf("../../etc", signs.owner("../../etc", "node-a"))).isEmpty();
        assertThat(ClusterSessionSigns.sessionId(SESSION)).isTrue();
        for (String bad : new String[] {null, "", "x", SESSION.toUpperCase(), SESSION + "0", "*", SESSION + "\n"}) {
            assertThat(ClusterSessionSigns.sessionId(bad)).as(String.valueOf(bad)).isFalse();
        }
    }

    @Test
    void aRoutedHeaderVerifiesForItsRequestOnlyAndNotForLong() {
        String target = "/v1/sessions/" + SESSION + "/executions?stream=true";
        String header = signs.routed("node-a", NOW, "POST", target);
        assertThat(signs.isRouted(header, NOW, "POST", target)).isTrue();
        assertThat(signs.isRouted(header, NOW.plusSeconds(30), "POST", target)).isTrue();
        // Another method, path or query: not this request's.
        assertThat(signs.isRouted(header, NOW, "DELETE", target)).isFalse();
        assertThat(signs.isRouted(header, NOW, "POST", "/v1/sessions/" + SESSION2 + "/executions?stream=true"))
                .isFalse();
        assertThat(signs.isRouted(header, NOW, "POST", "/v1/sessions/" + SESSION + "/executions")).isFalse();
        // Stale, or from the future: replay is bounded.
        assertThat(signs.isRouted(header, NOW.plus(ClusterSessionSigns.ROUTED_WINDOW).plusSeconds(1), "POST",
                target)).isFalse();
        assertThat(signs.isRouted(header, NOW.minus(ClusterSessionSigns.ROUTED_WINDOW).minusSeconds(1), "POST",
                target)).isFalse();
        // Another secret, or a field changed.
        assertThat(signs.isRouted(new ClusterSessionSigns(OTHER).routed("node-a", NOW, "POST", target), NOW, "POST",
                target)).isFalse();
        assertThat(signs.isRouted("node-b" + header.substring("node-a".length()), NOW, "POST", target)).isFalse();
    }

    @Test
    void hostileRoutedHeadersAreNotRouted() {
        String target = "/v1/sessions/" + SESSION;
        String header = signs.routed("node-a", NOW, "GET", target);
        String ms = Long.toString(NOW.toEpochMilli());
        for (String hostile : new String[] {null, "", "true", "1", ";;", "node-a;" + ms + ";",
            "node-a;" + ms + ";" + "0".repeat(64), header + ";", header + " ", header.toUpperCase(),
            "node-a;-1;" + header.substring(header.lastIndexOf(';') + 1), "node-a;" + "9".repeat(20) + ";x",
            "x".repeat(100_000), "node a;" + ms + ";" + "0".repeat(64)}) {
            assertThat(signs.isRouted(hostile, NOW, "GET", target)).as(String.valueOf(hostile)).isFalse();
        }
        assertThat(signs.isRouted(header, NOW, "GET", null)).isFalse();
        assertThat(signs.isRouted(header, NOW, null, target)).isFalse();
    }
}
