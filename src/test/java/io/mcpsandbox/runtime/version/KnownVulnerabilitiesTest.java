package io.mcpsandbox.runtime.version;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.LocalDate;
import java.util.List;
import org.junit.jupiter.api.Test;

class KnownVulnerabilitiesTest {
    private static List<String> affecting(Component c, String version) {
        ReleaseVersion v = ReleaseVersion.parse(version);
        return KnownVulnerabilities.about(c).stream().filter(a -> a.affects(v)).map(Advisory::id).toList();
    }

    @Test
    void everyRowNamesItsSourceAndFix() {
        assertThat(KnownVulnerabilities.TABLE).isNotEmpty().allSatisfy(a -> {
            assertThat(a.source()).startsWith("https://");
            assertThat(a.fixedIn()).isNotBlank();
            assertThat(a.summary()).isNotBlank();
            if (a.kind() == Advisory.Kind.CVE) {
                assertThat(a.id()).matches("CVE-\\d{4}-\\d{4,}");
                assertThat(a.source()).contains("/security/advisories/GHSA-");
            }
        });
        assertThat(KnownVulnerabilities.TABLE).extracting(Advisory::id).doesNotHaveDuplicates()
                .contains("CVE-2024-21626", "CVE-2024-45310", "CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881",
                        "runc-1.1-eol", "docker-20.10-eol", "gvisor-stale-release");
    }

    @Test
    void runcRangesFollowTheAdvisories() {
        assertThat(affecting(Component.RUNC, "1.1.5")).containsExactlyInAnyOrder("CVE-2024-21626", "CVE-2024-45310",
                "CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881", "runc-1.1-eol");
        assertThat(affecting(Component.RUNC, "1.1.11")).contains("CVE-2024-21626");
        assertThat(affecting(Component.RUNC, "1.1.12")).doesNotContain("CVE-2024-21626").contains("CVE-2024-45310");
        assertThat(affecting(Component.RUNC, "1.1.14")).doesNotContain("CVE-2024-45310").contains("CVE-2025-31133");
        assertThat(affecting(Component.RUNC, "1.2.0-rc.2")).contains("CVE-2024-45310").doesNotContain("CVE-2024-21626");
        assertThat(affecting(Component.RUNC, "1.2.0-rc.3")).doesNotContain("CVE-2024-45310", "runc-1.1-eol");
        assertThat(affecting(Component.RUNC, "1.2.7")).containsExactlyInAnyOrder("CVE-2025-31133", "CVE-2025-52565",
                "CVE-2025-52881");
        assertThat(affecting(Component.RUNC, "1.2.8")).isEmpty();
        assertThat(affecting(Component.RUNC, "1.3.0")).hasSize(3);
        assertThat(affecting(Component.RUNC, "1.3.2")).hasSize(3);
        assertThat(affecting(Component.RUNC, "1.3.3")).isEmpty();
        assertThat(affecting(Component.RUNC, "1.4.0-rc.2")).hasSize(3);
        assertThat(affecting(Component.RUNC, "1.4.0-rc.3")).isEmpty();
        assertThat(affecting(Component.RUNC, "1.4.0")).isEmpty();
    }

    @Test
    void dockerBefore23IsEndOfLife() {
        assertThat(affecting(Component.DOCKER, "20.10.24")).containsExactly("docker-20.10-eol");
        assertThat(affecting(Component.DOCKER, "19.03.15")).containsExactly("docker-20.10-eol");
        assertThat(affecting(Component.DOCKER, "28.5.1")).isEmpty();
    }

    @Test
    void gvisorReleasesOlderThanAYearAreStale() {
        Advisory stale = KnownVulnerabilities.about(Component.GVISOR).getFirst();
        LocalDate today = LocalDate.parse("2026-12-01");
        assertThat(stale.staleOn(LocalDate.parse("2022-12-19"), today)).isTrue();
        assertThat(stale.staleOn(LocalDate.parse("2025-11-30"), today)).isTrue();
        assertThat(stale.staleOn(LocalDate.parse("2026-06-01"), today)).isFalse();
        assertThat(stale.staleOn(null, today)).isFalse();
    }
}
