package io.mcpsandbox.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Set;

/**
 * Creates the data directories and checks that a sandbox can reach them: its root is an unprivileged
 * user-namespaced uid, so every ancestor of an image root or bundle must be searchable by "others".
 */
public final class DataDirectories {
    private DataDirectories() {
    }

    public static void prepare(SandboxConfig config) throws IOException {
        for (Path dir : new Path[] {config.dataDir(), config.imagesDir(), config.bundlesDir()}) {
            Files.createDirectories(dir);
            for (Path p = dir.toAbsolutePath(); p != null; p = p.getParent()) {
                Set<PosixFilePermission> perms = Files.getPosixFilePermissions(p);
                if (!perms.contains(PosixFilePermission.OTHERS_EXECUTE)) {
                    throw new IOException(p + " is not searchable by other users (mode "
                            + java.nio.file.attribute.PosixFilePermissions.toString(perms)
                            + "): sandboxes run as unprivileged uids and must reach " + dir + "; run chmod o+x " + p
                            + " or choose another MCP_SANDBOX_DATA_DIR");
                }
            }
        }
    }
}
