package io.mcpsandbox.runtime.version;

import io.mcpsandbox.host.HostCommand;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

/** Asks dpkg which package a binary comes from, and reads that package's Debian changelog for CVE ids. */
public interface DebianPackages {
    /** The package that installed {@code binary} (an absolute path), if dpkg knows one. */
    Optional<DebianPackage> owning(Path binary);

    /** An installed package by name (e.g. {@code docker.io}). */
    Optional<DebianPackage> named(String packageName);

    /** No dpkg: nothing is a Debian package. */
    DebianPackages NONE = new DebianPackages() {
        @Override
        public Optional<DebianPackage> owning(Path binary) {
            return Optional.empty();
        }

        @Override
        public Optional<DebianPackage> named(String packageName) {
            return Optional.empty();
        }
    };

    /** This host's dpkg database and {@code /usr/share/doc}. */
    static DebianPackages host() {
        return new Dpkg(Path.of("/usr/share/doc"));
    }

    /** The real one: {@code dpkg-query} and {@code /usr/share/doc/<package>/changelog.Debian.gz}. */
    final class Dpkg implements DebianPackages {
        private static final Pattern CVE = Pattern.compile("CVE-\\d{4}-\\d{4,7}");
        private static final Pattern PACKAGE_NAME = Pattern.compile("[a-z0-9][a-z0-9+.-]{0,127}");
        /** A changelog larger than this is not read further (runc's is 30 KB unpacked). */
        private static final int MAX_CHANGELOG_BYTES = 4 << 20;
        private final Path docRoot;

        Dpkg(Path docRoot) {
            this.docRoot = docRoot;
        }

        @Override
        public Optional<DebianPackage> owning(Path binary) {
            Optional<DebianPackage> found = ownerOf(binary);
            if (found.isEmpty()) {
                try {
                    // Debian installs some binaries under /usr/sbin with /sbin reached through the usr merge
                    Path real = binary.toRealPath();
                    if (!real.equals(binary)) {
                        found = ownerOf(real);
                    }
                } catch (IOException ignored) {
                    // not there: no package
                }
            }
            return found;
        }

        private Optional<DebianPackage> ownerOf(Path binary) {
            HostCommand.Result r = run(List.of("dpkg-query", "-S", binary.toString()));
            if (r == null || !r.ok()) {
                return Optional.empty();
            }
            for (String line : r.stdout().lines().toList()) {
                // "runc: /usr/sbin/runc", "docker.io:amd64: /usr/bin/dockerd"; skip "diversion by ..." lines
                int colon = line.indexOf(": /");
                if (colon > 0 && !line.startsWith("diversion")) {
                    String name = line.substring(0, colon).split("[:,]")[0].trim();
                    return named(name);
                }
            }
            return Optional.empty();
        }

        @Override
        public Optional<DebianPackage> named(String packageName) {
            if (!PACKAGE_NAME.matcher(packageName).matches()) {
                return Optional.empty();
            }
            HostCommand.Result r = run(List.of("dpkg-query", "-W", "-f=${Version}\\n", packageName));
            if (r == null || !r.ok() || r.stdout().isBlank()) {
                return Optional.empty();
            }
            String version = r.stdout().lines().findFirst().orElse("").trim();
            if (version.isEmpty()) {
                return Optional.empty(); // known to dpkg but not installed
            }
            Path changelog = docRoot.resolve(packageName).resolve("changelog.Debian.gz");
            try {
                return Optional.of(new DebianPackage(packageName, version, cvesIn(changelog), true));
            } catch (IOException e) {
                return Optional.of(new DebianPackage(packageName, version, Set.of(), false));
            }
        }

        /** Every CVE id in a gzipped changelog. */
        static Set<String> cvesIn(Path changelog) throws IOException {
            if (!Files.isRegularFile(changelog)) { // root-owned host documentation; a link there is Debian's own
                throw new IOException(changelog + " is not a file");
            }
            String text;
            try (InputStream in = new GZIPInputStream(Files.newInputStream(changelog))) {
                text = new String(in.readNBytes(MAX_CHANGELOG_BYTES), StandardCharsets.UTF_8);
            }
            Set<String> ids = new HashSet<>();
            Matcher m = CVE.matcher(text);
            while (m.find()) {
                ids.add(m.group());
            }
            return ids;
        }

        private static HostCommand.Result run(List<String> argv) {
            try {
                return HostCommand.run(argv, Duration.ofSeconds(10));
            } catch (IOException e) {
                return null; // no dpkg here
            }
        }
    }
}
