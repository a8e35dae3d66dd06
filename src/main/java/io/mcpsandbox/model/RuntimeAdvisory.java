package io.mcpsandbox.model;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * A known problem with the version of something a runtime rests on (runc, gVisor, Docker Engine), or a note that
 * the installed package fixes it.
 *
 * @param component  {@code runc}, {@code gVisor (runsc)}, {@code Docker Engine}
 * @param version    the version found (with the Debian package version where the binary comes from one)
 * @param id         a CVE id, or an end-of-life / stale-release marker
 * @param status     {@code affected}, {@code end-of-life}, {@code outdated}, {@code possibly-backported} (a Debian
 *                   package whose changelog could not be read), {@code end-of-life-packaged} (upstream end of life,
 *                   Debian package: fixes may be backported) or {@code fixed-by-package} (the Debian changelog
 *                   names the CVE)
 * @param blocking   whether {@code runtimes.refuse-vulnerable} refuses the runtime for it
 * @param summary    what it is
 * @param fixedIn    the upstream releases that fix it
 * @param source     the advisory it rests on
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record RuntimeAdvisory(String component, String version, String id, String status, boolean blocking,
                              String summary, String fixedIn, String source) {
}
