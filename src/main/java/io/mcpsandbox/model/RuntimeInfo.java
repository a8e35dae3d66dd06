package io.mcpsandbox.model;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * Whether a runtime can run sandboxes on this host, and if not, why; its version and what is known against it.
 *
 * @param advisories      known problems of the version (and CVEs the Debian package says it fixed); empty when
 *                        none is known or the version could not be read
 * @param knownVulnerable whether any advisory is blocking (see {@link RuntimeAdvisory#blocking()})
 * @param network         whether a request on it may ask for network: the server's {@code network.enabled}, the
 *                        same on every usable runtime, as egress goes through the sandbox's agent
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record RuntimeInfo(String name, boolean usable, String version, String reason, List<SecurityLevel> levels,
                          List<RuntimeAdvisory> advisories, boolean knownVulnerable, boolean network) {
    public RuntimeInfo {
        advisories = advisories == null ? List.of() : List.copyOf(advisories);
    }

    public static RuntimeInfo usable(String name, String version, List<SecurityLevel> levels) {
        return new RuntimeInfo(name, true, version, null, levels, List.of(), false, false);
    }

    public static RuntimeInfo unusable(String name, String version, String reason, List<SecurityLevel> levels) {
        return new RuntimeInfo(name, false, version, reason, levels, List.of(), false, false);
    }

    /** This info with the advisories found for its version. */
    public RuntimeInfo withAdvisories(List<RuntimeAdvisory> found) {
        return new RuntimeInfo(name, usable, version, reason, levels, found,
                found.stream().anyMatch(RuntimeAdvisory::blocking), network);
    }

    /** This info marked unusable for {@code why}, keeping what else is known. */
    public RuntimeInfo refused(String why) {
        return new RuntimeInfo(name, false, version, why, levels, advisories, knownVulnerable, network);
    }

    /** This info saying whether requests on it may have network (only a usable runtime may). */
    public RuntimeInfo withNetwork(boolean available) {
        return new RuntimeInfo(name, usable, version, reason, levels, advisories, knownVulnerable,
                usable && available);
    }

    /** One line: the blocking advisories' ids, e.g. {@code CVE-2025-31133, runc-1.1-eol}; empty when none. */
    public String blockingIds() {
        return String.join(", ", advisories.stream().filter(RuntimeAdvisory::blocking).map(RuntimeAdvisory::id)
                .distinct().toList());
    }
}
