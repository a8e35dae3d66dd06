package io.mcpsandbox.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.Set;

/**
 * Creates the data and state directories and checks that a sandbox can reach them: its root is an
 * unprivileged user-namespaced uid, so every ancestor of an image root or bundle must be searchable by
 * "others". Nothing in them is listable or readable by other host users (see docs/security.md, items 2 and 6):
 * the data directory and the bundles are traverse-only, the state directory is root's alone.
 */
public final class DataDirectories {
    private static final Set<PosixFilePermission> GROUP_OTHER_READ = EnumSet.of(
            PosixFilePermission.GROUP_READ, PosixFilePermission.OTHERS_READ);

    private DataDirectories() {
    }

    public static void prepare(SandboxConfig config) throws IOException {
        for (Path dir : new Path[] {config.dataDir(), config.imagesDir(), config.bundlesDir()}) {
            Files.createDirectories(dir);
            for (Path p = dir.toAbsolutePath(); p != null; p = p.getParent()) {
                Set<PosixFilePermission> perms = Files.getPosixFilePermissions(p);
                if (!perms.contains(PosixFilePermission.OTHERS_EXECUTE)) {
                    throw new IOException(p + " is not searchable by other users (mode "
                            + PosixFilePermissions.toString(perms)
                            + "): sandboxes run as unprivileged uids and must reach " + dir + "; run chmod o+x " + p
                            + " or choose another MCP_SANDBOX_DATA_DIR");
                }
            }
        }
        // Traverse-only: other users may pass through to what sandboxes need, never list.
        removeGroupAndOtherRead(config.dataDir());
        Files.setPosixFilePermissions(config.bundlesDir(), PosixFilePermissions.fromString("rwx--x--x"));
        Files.createDirectories(config.stateDir());
        Files.setPosixFilePermissions(config.stateDir(), PosixFilePermissions.fromString("rwx------"));
    }

    private static void removeGroupAndOtherRead(Path dir) throws IOException {
        Set<PosixFilePermission> perms = EnumSet.copyOf(Files.getPosixFilePermissions(dir));
        if (perms.contains(PosixFilePermission.GROUP_WRITE) || perms.contains(PosixFilePermission.OTHERS_WRITE)) {
            // Another user could plant files or links where bundles and records go (a shared directory like /tmp).
            throw new IOException(dir + " is writable by other users (mode " + PosixFilePermissions.toString(perms)
                    + "): choose a data directory of its own for MCP_SANDBOX_DATA_DIR, e.g. /var/lib/mcp-sandbox");
        }
        if (perms.removeAll(GROUP_OTHER_READ)) {
            Files.setPosixFilePermissions(dir, perms);
        }
    }
}
