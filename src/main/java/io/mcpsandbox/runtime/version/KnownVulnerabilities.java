package io.mcpsandbox.runtime.version;

import static io.mcpsandbox.runtime.version.Advisory.Range.below;
import static io.mcpsandbox.runtime.version.Advisory.Range.between;

import java.util.List;

/**
 * The table of known-vulnerable runtime versions (issue 10 item 10). Each row names its source. Fixed versions
 * were checked against the runc advisories and release notes (GitHub advisory database entries quoted in
 * dependency-update pull requests, and the runc/containerd release notes) on 2026-12-01; where a value could not
 * be confirmed, a comment says so. Update this table when runc, gVisor or Docker publish new advisories.
 */
public final class KnownVulnerabilities {
    private KnownVulnerabilities() {
    }

    private static final String RUNC_ADVISORIES = "https://github.com/opencontainers/runc/security/advisories/";

    public static final List<Advisory> TABLE = List.of(
            // "runc 1.1.11 and earlier"; fixed in 1.1.12 (2024-01-31); 1.2.0-rc.1 includes every 1.1.12 fix.
            Advisory.cve(Component.RUNC, "CVE-2024-21626", "1.1.12", RUNC_ADVISORIES + "GHSA-xr7r-f8xq-vfvv",
                    "leaked host fd as working directory (process.cwd /proc/self/fd/N): container breakout",
                    below("1.1.12")),
            // "runc 1.1.13 and earlier as well as 1.2.0-rc2 and earlier"; fixed in 1.1.14. The 1.2 fix is taken to be
            // 1.2.0-rc.3 because the advisory says "rc2 and earlier" (no rc.3 release note was found to confirm it).
            Advisory.cve(Component.RUNC, "CVE-2024-45310", "1.1.14, 1.2.0-rc.3",
                    RUNC_ADVISORIES + "GHSA-jfvp-7x6p-h2pv",
                    "race with os.MkdirAll through a shared volume creates empty files/directories on the host",
                    below("1.1.14"), between("1.2.0-rc.1", "1.2.0-rc.3")),
            // November 2025 mount races: fixed in 1.2.8 and 1.3.3 (confirmed from the GitHub advisory database and the
            // nerdctl/kubevirt updates). The 1.4 fix is taken to be 1.4.0-rc.3 (not confirmed from a release note).
            Advisory.cve(Component.RUNC, "CVE-2025-31133", "1.2.8, 1.3.3, 1.4.0-rc.3",
                    RUNC_ADVISORIES + "GHSA-9493-h29p-rfm2",
                    "maskedPaths /dev/null replaced by a symlink: writable procfs files, container escape",
                    below("1.2.8"), between("1.3.0", "1.3.3"), between("1.4.0-rc.1", "1.4.0-rc.3")),
            Advisory.cve(Component.RUNC, "CVE-2025-52565", "1.2.8, 1.3.3, 1.4.0-rc.3",
                    RUNC_ADVISORIES + "GHSA-qw9x-cqr3-wc7r",
                    "/dev/console bind-mount redirected by a symlink: writable procfs files, container escape",
                    below("1.2.8"), between("1.3.0", "1.3.3"), between("1.4.0-rc.1", "1.4.0-rc.3")),
            Advisory.cve(Component.RUNC, "CVE-2025-52881", "1.2.8, 1.3.3, 1.4.0-rc.3",
                    RUNC_ADVISORIES + "GHSA-cgrx-mc8f-2prm",
                    "procfs write redirects (LSM label writes to arbitrary procfs files): container escape, host DoS",
                    below("1.2.8"), between("1.3.0", "1.3.3"), between("1.4.0-rc.1", "1.4.0-rc.3")),
            // ("-0" is the lowest pre-release: 1.2.0-rc.N are not 1.1.) The 1.1 branch is no longer maintained (the
            // exact end date was not confirmed; RELEASES.md keeps the policy: only the two latest minor branches get
            // fixes).
            Advisory.endOfLife(Component.RUNC, "runc-1.1-eol", "1.2 or later",
                    "https://github.com/opencontainers/runc/blob/main/RELEASES.md",
                    "runc 1.1 and older are end of life upstream: no more security releases", below("1.2.0-0")),
            // Docker 20.10 (and every branch before 23.0) is unmaintained in moby's branch table. Later branches go
            // unmaintained too; only 20.10 and older are listed because that is what could be confirmed.
            Advisory.endOfLife(Component.DOCKER, "docker-20.10-eol", "a maintained Docker Engine branch",
                    "https://github.com/moby/moby/blob/master/BRANCHES-AND-TAGS.md",
                    "Docker Engine 20.10 and older are unmaintained upstream: no more security releases",
                    below("23.0.0-0")),
            // gVisor publishes no CVE ranges and fixes only the latest release: a release older than a year has
            // missed a year of sandbox-escape and kernel-emulation fixes.
            new Advisory(Component.GVISOR, "gvisor-stale-release", Advisory.Kind.STALE_RELEASE, List.of(),
                    "a gVisor release from the last 365 days", "https://gvisor.dev/docs/user_guide/install/",
                    "gVisor release older than 365 days: only the latest release receives fixes", 365));

    /** The rows about one component. */
    public static List<Advisory> about(Component component) {
        return TABLE.stream().filter(a -> a.component() == component).toList();
    }
}
