package io.mcpsandbox.runtime.version;

import java.util.Set;

/**
 * The Debian package a runtime binary comes from, and what its changelog says.
 *
 * @param name           e.g. {@code runc}
 * @param version        e.g. {@code 1.1.5+ds1-1+deb12u1}
 * @param fixedCves      every CVE id the package's {@code changelog.Debian.gz} mentions (Debian names each
 *                       security fix it backports there)
 * @param changelogRead  false when the changelog could not be read: then nothing is known about backports
 */
public record DebianPackage(String name, String version, Set<String> fixedCves, boolean changelogRead) {
    public DebianPackage {
        fixedCves = Set.copyOf(fixedCves);
    }
}
