package io.mcpsandbox.runtime.version;

import io.mcpsandbox.host.HostCommand;
import io.mcpsandbox.model.RuntimeAdvisory;
import io.mcpsandbox.model.RuntimeInfo;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.LocalDate;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checks the versions a runtime rests on against {@link KnownVulnerabilities} (issue 10 item 10). A runtime's
 * components: runc for {@code runc}; gVisor for {@code runsc}; Docker Engine plus the host's runc for
 * {@code docker} (Debian's docker.io runs the runc on PATH); Docker Engine plus the host's runsc for
 * {@code docker-runsc}.
 *
 * <p>Debian backports security fixes without changing the upstream version (runc {@code 1.1.5+ds1-1+deb12u1}
 * fixes CVE-2024-21626). Where the binary comes from a Debian package, a CVE its changelog names is reported as
 * {@code fixed-by-package}; when the changelog cannot be read, as {@code possibly-backported} (still blocking:
 * unknown is not safe). An upstream end of life of a Debian package is {@code end-of-life-packaged} and not
 * blocking: Debian's security team keeps fixing its stable packages.
 */
public final class RuntimeVersionCheck {
    /** gVisor release dates as runsc prints them: {@code release-20240513.0}, {@code 0.0~20221219.0}. */
    private static final Pattern GVISOR_DATE = Pattern.compile("(?<![0-9])(20\\d{6})\\.\\d+");

    private final DebianPackages debian;
    private final Function<String, Optional<String>> versionOutput;
    private final Function<String, Optional<Path>> locate;
    private final Clock clock;

    /**
     * @param versionOutput the output of {@code <binary> --version}, for components probed by name (docker's runc)
     * @param locate        the absolute path of a binary on the host PATH
     */
    public RuntimeVersionCheck(DebianPackages debian, Function<String, Optional<String>> versionOutput,
                               Function<String, Optional<Path>> locate, Clock clock) {
        this.debian = debian;
        this.versionOutput = versionOutput;
        this.locate = locate;
        this.clock = clock;
    }

    /** The real host: dpkg, binaries on {@link HostCommand#HOST_PATH}, the system clock. */
    public static RuntimeVersionCheck host() {
        return new RuntimeVersionCheck(DebianPackages.host(), RuntimeVersionCheck::runVersion,
                RuntimeVersionCheck::onPath, Clock.systemUTC());
    }

    /** The info with the advisories of the runtime's components. */
    public RuntimeInfo check(RuntimeInfo info) {
        if (info.version() == null) {
            return info.withAdvisories(List.of());
        }
        List<RuntimeAdvisory> found = new ArrayList<>();
        switch (info.name()) {
            case "runc" -> found.addAll(component(Component.RUNC, info.version(), packageOf("runc")));
            case "runsc" -> found.addAll(component(Component.GVISOR, info.version(), packageOf("runsc")));
            case "docker", "docker-runsc" -> {
                found.addAll(component(Component.DOCKER, info.version(), dockerPackage(info.version())));
                String inner = info.name().equals("docker") ? "runc" : "runsc";
                Component innerComponent = inner.equals("runc") ? Component.RUNC : Component.GVISOR;
                versionOutput.apply(inner).ifPresent(v -> found.addAll(component(innerComponent, v, packageOf(inner))));
            }
            default -> {
                // crun, kata, ...: no rows in the table
            }
        }
        return info.withAdvisories(found);
    }

    /** The advisories of one component given its version line and the Debian package it comes from, if any. */
    List<RuntimeAdvisory> component(Component component, String versionLine, Optional<DebianPackage> pkg) {
        Optional<ReleaseVersion> version = component == Component.GVISOR ? Optional.empty()
                : ReleaseVersion.find(versionLine.replaceFirst("^Docker ", ""));
        LocalDate released = component == Component.GVISOR ? gvisorDate(versionLine) : null;
        String shown = (version.map(ReleaseVersion::toString).orElse(versionLine.strip()))
                + pkg.map(p -> " (Debian package " + p.name() + " " + p.version() + ")").orElse("");
        List<RuntimeAdvisory> found = new ArrayList<>();
        for (Advisory a : KnownVulnerabilities.about(component)) {
            String status;
            switch (a.kind()) {
                case CVE -> {
                    if (version.isEmpty() || !a.affects(version.get())) {
                        continue;
                    }
                    if (pkg.isEmpty()) {
                        status = "affected";
                    } else if (!pkg.get().changelogRead()) {
                        status = "possibly-backported";
                    } else {
                        status = pkg.get().fixedCves().contains(a.id()) ? "fixed-by-package" : "affected";
                    }
                }
                case END_OF_LIFE -> {
                    if (version.isEmpty() || !a.affects(version.get())) {
                        continue;
                    }
                    status = pkg.isPresent() ? "end-of-life-packaged" : "end-of-life";
                }
                case STALE_RELEASE -> {
                    if (!a.staleOn(released, LocalDate.now(clock))) {
                        continue;
                    }
                    status = "outdated";
                }
                default -> throw new IllegalStateException(a.kind().toString());
            }
            String summary = a.summary();
            if (status.equals("affected") && pkg.isPresent()) {
                summary += "; the changelog of Debian package " + pkg.get().name() + " does not mention it";
            } else if (status.equals("possibly-backported")) {
                summary += "; Debian package, fixes may be backported (its changelog could not be read)";
            } else if (status.equals("end-of-life-packaged")) {
                summary += "; Debian package: Debian may still backport security fixes";
            } else if (status.equals("outdated") && released != null) {
                summary += " (this one: " + released + ")";
            }
            boolean blocking = !status.equals("fixed-by-package") && !status.equals("end-of-life-packaged");
            found.add(new RuntimeAdvisory(component.label(), shown, a.id(), status, blocking, summary, a.fixedIn(),
                    a.source()));
        }
        return found;
    }

    static LocalDate gvisorDate(String versionLine) {
        Matcher m = GVISOR_DATE.matcher(versionLine);
        if (!m.find()) {
            return null;
        }
        String d = m.group(1);
        try {
            return LocalDate.parse(d.substring(0, 4) + "-" + d.substring(4, 6) + "-" + d.substring(6));
        } catch (DateTimeParseException e) {
            return null;
        }
    }

    private Optional<DebianPackage> packageOf(String binary) {
        return locate.apply(binary).flatMap(debian::owning);
    }

    /** Debian's docker.io reports its upstream version with the repack marker, e.g. {@code 20.10.24+dfsg1}. */
    private Optional<DebianPackage> dockerPackage(String versionLine) {
        String reported = versionLine.replaceFirst("^Docker ", "").split("[ ,]")[0];
        return debian.named("docker.io").filter(p -> p.version().startsWith(reported + "-")
                || p.version().equals(reported));
    }

    private static Optional<String> runVersion(String binary) {
        try {
            HostCommand.Result r = HostCommand.run(List.of(binary, "--version"), Duration.ofSeconds(10));
            return r.ok() ? r.stdout().lines().map(String::strip).filter(l -> !l.isEmpty()).findFirst()
                    : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static Optional<Path> onPath(String binary) {
        try {
            return Optional.of(Path.of(HostCommand.resolve(binary)));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }
}
