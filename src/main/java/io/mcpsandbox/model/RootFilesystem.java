package io.mcpsandbox.model;

import java.nio.file.Path;
import java.util.List;

/**
 * A resolved image: the directory that becomes the sandbox's read-only root, plus host paths bound
 * read-only into it (the built-in host image is made of such binds). Every mount point named by a bind
 * already exists in {@code rootDir}, so the root can be shared by concurrent sandboxes unchanged.
 */
public record RootFilesystem(String image, Path rootDir, List<HostBind> binds) {
    /**
     * Where the sandbox's init (tini, PID 1: forwards signals, reaps orphans) is bound; every image's root
     * has this empty file as its mount point.
     */
    public static final String INIT_MOUNT_POINT = "/.mcp-init";

    public RootFilesystem {
        binds = List.copyOf(binds);
    }

    /** A host path bound read-only at {@code destination} inside the sandbox. */
    public record HostBind(Path source, String destination) {
    }
}
