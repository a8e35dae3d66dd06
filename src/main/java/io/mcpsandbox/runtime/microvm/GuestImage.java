package io.mcpsandbox.runtime.microvm;

import io.mcpsandbox.host.Sha256;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Properties;

/**
 * The guest that every microVM boots, built by {@code guest/build} (run by bin/setup): Debian's kernel taken
 * from its package, and an initramfs holding busybox, the agent and guest/init. Its agent must be the one the
 * containers get, so that one protocol serves every runtime.
 *
 * @param dir the directory holding {@code vmlinux}, {@code initramfs.cpio} and {@code guest.properties}
 */
public record GuestImage(Path dir) {
    /** Where bin/setup builds it: the default data directory, whatever a server's own data directory is. */
    public static final Path DEFAULT_DIR = Path.of("/var/lib/mcp-sandbox/microvm");

    public Path kernel() {
        return dir.resolve("vmlinux");
    }

    public Path initramfs() {
        return dir.resolve("initramfs.cpio");
    }

    /** The kernel's release (e.g. {@code 6.1.0-57-amd64}), as guest.properties records it. */
    public String kernelRelease() {
        return properties().getProperty("kernel", "unknown");
    }

    /** Why this guest cannot boot sandboxes with {@code agent}, or empty when it can. */
    public Optional<String> problem(Path agent) {
        for (Path file : new Path[] {kernel(), initramfs(), dir.resolve("guest.properties")}) {
            if (!Files.isRegularFile(file)) {
                return Optional.of("the microVM guest is not built (" + file + " is missing): run bin/setup");
            }
        }
        String built = properties().getProperty("agent.sha256", "");
        try {
            if (!built.equals(Sha256.hexOfFile(agent))) {
                return Optional.of("the microVM guest in " + dir + " holds another build of the agent than " + agent
                        + ": run bin/setup to rebuild it");
            }
        } catch (IOException e) {
            return Optional.of("cannot read the agent " + agent + ": " + e.getMessage());
        }
        return Optional.empty();
    }

    private Properties properties() {
        Properties p = new Properties();
        try (Reader in = Files.newBufferedReader(dir.resolve("guest.properties"))) {
            p.load(in);
        } catch (IOException e) {
            // problem() says what is missing
        }
        return p;
    }
}
