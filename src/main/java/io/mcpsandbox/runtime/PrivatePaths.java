package io.mcpsandbox.runtime;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Host paths that hold a sandbox's request (argv, env, code, input) or state: only root may read them, so
 * another host user cannot read a running sandbox. Directories a runtime's unprivileged side must traverse
 * are {@link #TRAVERSE_ONLY} (no listing, no reading).
 */
public final class PrivatePaths {
    /** Searchable by others, readable by nobody but root: the user-namespaced runtime side walks through. */
    public static final String TRAVERSE_ONLY = "rwx--x--x";
    public static final String OWNER_ONLY_DIR = "rwx------";
    public static final String OWNER_ONLY_FILE = "rw-------";

    private PrivatePaths() {
    }

    /** Creates {@code dir} (and its missing parents) and gives it {@code mode}, refusing a symbolic link. */
    public static Path directory(Path dir, String mode) throws IOException {
        Files.createDirectories(dir);
        if (Files.isSymbolicLink(dir)) {
            throw new IOException(dir + " is a symbolic link");
        }
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString(mode));
        return dir;
    }

    /** Creates an empty file only its owner can read and write, or makes an existing one so. */
    public static Path file(Path file) throws IOException {
        try {
            Files.createFile(file,
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(OWNER_ONLY_FILE)));
        } catch (FileAlreadyExistsException exists) {
            if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
                throw new IOException(file + " is not a regular file");
            }
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString(OWNER_ONLY_FILE));
        }
        return file;
    }

    /** Opens a new owner-only file for writing (it must not exist yet: nothing can have planted it). */
    public static OutputStream newFile(Path file) throws IOException {
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(OWNER_ONLY_FILE)));
        return Files.newOutputStream(file, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING,
                LinkOption.NOFOLLOW_LINKS);
    }
}
