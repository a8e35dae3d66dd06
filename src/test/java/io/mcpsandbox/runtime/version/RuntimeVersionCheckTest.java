package io.mcpsandbox.runtime.version;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.model.RuntimeAdvisory;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.model.SecurityLevel;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RuntimeVersionCheckTest {
    private static final Clock DEC_2026 = Clock.fixed(Instant.parse("2026-12-01T00:00:00Z"), ZoneOffset.UTC);
    private static final DebianPackage DEBIAN_RUNC = new DebianPackage("runc", "1.1.5+ds1-1+deb12u1",
            Set.of("CVE-2023-27561", "CVE-2024-21626"), true);

    /** Packages by binary name; binaries live in /usr/bin. */
    private static DebianPackages packages(Map<String, DebianPackage> byBinary, Map<String, DebianPackage> byName) {
        return new DebianPackages() {
            @Override
            public Optional<DebianPackage> owning(Path binary) {
                return Optional.ofNullable(byBinary.get(binary.getFileName().toString()));
            }

            @Override
            public Optional<DebianPackage> named(String name) {
                return Optional.ofNullable(byName.get(name));
            }
        };
    }

    private static RuntimeVersionCheck check(DebianPackages debian, Map<String, String> versions) {
        return new RuntimeVersionCheck(debian, b -> Optional.ofNullable(versions.get(b)),
                b -> Optional.of(Path.of("/usr/bin", b)), DEC_2026);
    }

    private static Map<String, String> statuses(RuntimeInfo info) {
        return info.advisories().stream().collect(java.util.stream.Collectors.toMap(RuntimeAdvisory::id,
                RuntimeAdvisory::status));
    }

    private static RuntimeInfo runtime(String name, String version) {
        return RuntimeInfo.usable(name, version, List.of(SecurityLevel.LOW));
    }

    @Test
    void upstreamRuncOneOneFiveIsAffectedAndEndOfLife() {
        RuntimeInfo info = check(DebianPackages.NONE, Map.of()).check(runtime("runc", "runc version 1.1.5"));
        assertThat(statuses(info)).containsEntry("CVE-2024-21626", "affected")
                .containsEntry("CVE-2025-31133", "affected").containsEntry("runc-1.1-eol", "end-of-life");
        assertThat(info.knownVulnerable()).isTrue();
        assertThat(info.advisories()).allSatisfy(a -> {
            assertThat(a.blocking()).isTrue();
            assertThat(a.version()).isEqualTo("1.1.5");
            assertThat(a.source()).startsWith("https://");
        });
    }

    @Test
    void aDebianChangelogThatNamesTheCveMarksItFixedByThePackage() {
        RuntimeInfo info = check(packages(Map.of("runc", DEBIAN_RUNC), Map.of()), Map.of())
                .check(runtime("runc", "runc version 1.1.5+ds1"));
        Map<String, String> s = statuses(info);
        assertThat(s).containsEntry("CVE-2024-21626", "fixed-by-package")
                .containsEntry("CVE-2024-45310", "affected")
                .containsEntry("CVE-2025-52881", "affected")
                .containsEntry("runc-1.1-eol", "end-of-life-packaged");
        RuntimeAdvisory fixed = info.advisories().stream().filter(a -> a.id().equals("CVE-2024-21626")).findFirst()
                .orElseThrow();
        assertThat(fixed.blocking()).isFalse();
        assertThat(fixed.version()).isEqualTo("1.1.5 (Debian package runc 1.1.5+ds1-1+deb12u1)");
        assertThat(info.blockingIds()).isEqualTo("CVE-2024-45310, CVE-2025-31133, CVE-2025-52565, CVE-2025-52881");
    }

    @Test
    void aDebianPackageWithoutAReadableChangelogIsPossiblyBackported() {
        DebianPackage unread = new DebianPackage("runc", "1.1.5+ds1-1+deb12u1", Set.of(), false);
        RuntimeInfo info = check(packages(Map.of("runc", unread), Map.of()), Map.of())
                .check(runtime("runc", "runc version 1.1.5+ds1"));
        assertThat(statuses(info)).containsEntry("CVE-2024-21626", "possibly-backported");
        assertThat(info.advisories()).filteredOn(a -> a.status().equals("possibly-backported"))
                .allSatisfy(a -> assertThat(a.summary()).contains("Debian package, fixes may be backported"));
        assertThat(info.knownVulnerable()).isTrue(); // unknown is not safe
    }

    @Test
    void aCurrentRuncHasNoAdvisories() {
        RuntimeInfo info = check(DebianPackages.NONE, Map.of()).check(runtime("runc", "runc version 1.3.3"));
        assertThat(info.advisories()).isEmpty();
        assertThat(info.knownVulnerable()).isFalse();
    }

    @Test
    void gvisorFromTwentyTwentyTwoIsOutdated() {
        RuntimeVersionCheck c = check(DebianPackages.NONE, Map.of());
        RuntimeInfo old = c.check(runtime("runsc", "runsc version 0.0~20221219.0"));
        assertThat(statuses(old)).containsExactly(Map.entry("gvisor-stale-release", "outdated"));
        assertThat(old.advisories().getFirst().summary()).contains("2022-12-19");
        assertThat(c.check(runtime("runsc", "runsc version release-20261020.0")).advisories()).isEmpty();
    }

    @Test
    void dockerChecksTheEngineAndTheRuntimeItRuns() {
        DebianPackage dockerIo = new DebianPackage("docker.io", "20.10.24+dfsg1-1+deb12u1+b6", Set.of(), true);
        RuntimeVersionCheck c = check(packages(Map.of("runc", DEBIAN_RUNC), Map.of("docker.io", dockerIo)),
                Map.of("runc", "runc version 1.1.5+ds1", "runsc", "runsc version 0.0~20221219.0"));
        RuntimeInfo docker = c.check(runtime("docker", "Docker 20.10.24+dfsg1"));
        assertThat(statuses(docker)).containsEntry("docker-20.10-eol", "end-of-life-packaged")
                .containsEntry("CVE-2024-21626", "fixed-by-package").containsEntry("CVE-2025-31133", "affected");
        RuntimeInfo dockerRunsc = c.check(runtime("docker-runsc", "Docker 20.10.24+dfsg1, runsc"));
        assertThat(statuses(dockerRunsc)).containsOnlyKeys("docker-20.10-eol", "gvisor-stale-release");
        // Docker CE (not Debian's docker.io) gets no backports
        RuntimeInfo ce = check(DebianPackages.NONE, Map.of()).check(runtime("docker", "Docker 20.10.9"));
        assertThat(statuses(ce)).containsEntry("docker-20.10-eol", "end-of-life");
    }

    @Test
    void noVersionNoAdvisories() {
        RuntimeInfo info = check(DebianPackages.NONE, Map.of())
                .check(RuntimeInfo.unusable("runc", null, "not installed", List.of(SecurityLevel.LOW)));
        assertThat(info.advisories()).isEmpty();
        assertThat(info.knownVulnerable()).isFalse();
    }

    @Test
    void readsCveIdsFromAGzippedChangelog(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path changelog = dir.resolve("changelog.Debian.gz");
        try (var out = new java.util.zip.GZIPOutputStream(java.nio.file.Files.newOutputStream(changelog))) {
            out.write(("runc (1.1.5+ds1-1+deb12u1) bookworm-security; urgency=high\n\n"
                    + "  * CVE-2024-21626: several container breakouts due to internally leaked fds\n"
                    + "  * fixes CVE-2023-25809 and CVE-2023-28642\n")
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        assertThat(DebianPackages.Dpkg.cvesIn(changelog))
                .containsExactlyInAnyOrder("CVE-2024-21626", "CVE-2023-25809", "CVE-2023-28642");
    }
}
