package io.mcpsandbox.runtime.version;

import java.time.LocalDate;
import java.util.List;

/**
 * One row of the table of known problems: a CVE, an end of life, or (gVisor, which names no CVEs nor maintains old
 * releases) a release older than {@link #maxAgeDays}.
 *
 * @param id         what it is called: a CVE id, or e.g. {@code runc-1.1-eol}
 * @param kind       CVE, end of life, or stale release
 * @param affected   the affected upstream versions (CVE and end-of-life rows)
 * @param fixedIn    where it is fixed, as people read it (e.g. {@code 1.2.8, 1.3.3, 1.4.0-rc.3})
 * @param source     the advisory or announcement the row rests on
 * @param summary    one line: what an attacker gets
 * @param maxAgeDays for {@link Kind#STALE_RELEASE}: how old a release may be
 */
public record Advisory(Component component, String id, Kind kind, List<Range> affected, String fixedIn,
                       String source, String summary, int maxAgeDays) {
    public enum Kind { CVE, END_OF_LIFE, STALE_RELEASE }

    public Advisory {
        affected = List.copyOf(affected);
    }

    /** Versions from {@code from} (inclusive; null: any) up to {@code below} (exclusive). */
    public record Range(ReleaseVersion from, ReleaseVersion below) {
        public static Range below(String version) {
            return new Range(null, ReleaseVersion.parse(version));
        }

        public static Range between(String from, String below) {
            return new Range(ReleaseVersion.parse(from), ReleaseVersion.parse(below));
        }

        public boolean contains(ReleaseVersion v) {
            return (from == null || v.compareTo(from) >= 0) && v.isBefore(below);
        }
    }

    static Advisory cve(Component c, String id, String fixedIn, String source, String summary, Range... affected) {
        return new Advisory(c, id, Kind.CVE, List.of(affected), fixedIn, source, summary, 0);
    }

    static Advisory endOfLife(Component c, String id, String fixedIn, String source, String summary,
            Range... affected) {
        return new Advisory(c, id, Kind.END_OF_LIFE, List.of(affected), fixedIn, source, summary, 0);
    }

    /** Whether a version of this component is affected. */
    public boolean affects(ReleaseVersion version) {
        return version != null && affected.stream().anyMatch(r -> r.contains(version));
    }

    /** For stale-release rows: whether a release of that date is too old on {@code today}. */
    public boolean staleOn(LocalDate released, LocalDate today) {
        return kind == Kind.STALE_RELEASE && released != null && released.plusDays(maxAgeDays).isBefore(today);
    }
}
