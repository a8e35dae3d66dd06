package io.mcpsandbox.host;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SecureDirectoryStream;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Removes a file or directory tree that a sandbox may have written into, never following a symbolic link:
 * a link is removed as a link and never descended through. Every step below the top works relative to an
 * already open directory and opens subdirectories with {@code O_NOFOLLOW} ({@link SecureDirectoryStream}), so a
 * directory swapped for a link while the removal runs stops the removal there instead of leading it out of
 * the tree. Directories left read-only are made writable first (for root that changes nothing; for a
 * non-root owner it is what makes them removable; one left unreadable stays, with an error).
 */
public final class DeleteTree {
    private static final Logger log = LoggerFactory.getLogger(DeleteTree.class);
    private static final Set<PosixFilePermission> OWNER_RWX = EnumSet.of(
            PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE);

    private DeleteTree() {
    }

    /**
     * Removes {@code path} and, when it is a directory (not a link to one), everything below it. Goes on past
     * entries it cannot remove and then throws the first failure (the others suppressed). A missing path is
     * not an error.
     */
    public static void delete(Path path) throws IOException {
        BasicFileAttributes top;
        try {
            top = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException gone) {
            return;
        }
        if (!top.isDirectory()) {
            Files.deleteIfExists(path); // a file or a link: removes the link itself
            return;
        }
        Path absolute = path.toAbsolutePath().normalize();
        Path parent = absolute.getParent();
        if (parent == null) {
            throw new IllegalArgumentException("refusing to delete the root directory");
        }
        List<IOException> failures = new ArrayList<>();
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(parent)) {
            if (!(stream instanceof SecureDirectoryStream<Path> parentDir)) {
                throw new IOException("cannot remove " + path + " safely: this platform has no secure directory "
                        + "streams (openat, O_NOFOLLOW)");
            }
            remove(parentDir, absolute.getFileName(), absolute, failures);
        }
        if (!failures.isEmpty()) {
            IOException first = failures.getFirst();
            failures.stream().skip(1).forEach(first::addSuppressed);
            throw first;
        }
    }

    /** {@link #delete} for cleanup paths: logs a warning instead of throwing. Returns whether it is gone. */
    public static boolean deleteQuietly(Path path) {
        try {
            delete(path);
            return true;
        } catch (IOException e) {
            log.warn("{} not fully removed: {}", path, e.getMessage());
            return false;
        }
    }

    /** Removes the entry {@code name} of {@code parent}: a directory with its content, anything else itself. */
    private static void remove(SecureDirectoryStream<Path> parent, Path name, Path shown, List<IOException> failures) {
        try {
            BasicFileAttributes a = parent.getFileAttributeView(name, BasicFileAttributeView.class,
                    LinkOption.NOFOLLOW_LINKS).readAttributes();
            if (a.isDirectory()) {
                removeDirectory(parent, name, shown, failures);
            } else {
                parent.deleteFile(name);
            }
        } catch (NoSuchFileException gone) {
            // removed meanwhile
        } catch (IOException e) {
            String reason = e instanceof FileSystemException f && f.getReason() != null ? f.getReason() : e.toString();
            failures.add(new IOException("cannot remove " + shown + ": " + reason, e));
        }
    }

    private static void removeDirectory(SecureDirectoryStream<Path> parent, Path name, Path shown,
                                        List<IOException> failures) throws IOException {
        // O_NOFOLLOW: a link swapped in since the look above fails here (ELOOP) instead of being entered.
        try (SecureDirectoryStream<Path> dir = parent.newDirectoryStream(name, LinkOption.NOFOLLOW_LINKS)) {
            grantOwner(dir.getFileAttributeView(PosixFileAttributeView.class));
            List<Path> entries = new ArrayList<>();
            for (Path entry : dir) {
                entries.add(entry.getFileName());
            }
            for (Path entry : entries) {
                remove(dir, entry, shown.resolve(entry), failures);
            }
        }
        try {
            parent.deleteDirectory(name);
        } catch (NoSuchFileException gone) {
            // removed meanwhile
        }
    }


    private static void grantOwner(PosixFileAttributeView view) throws IOException {
        Set<PosixFilePermission> perms = view.readAttributes().permissions();
        if (!perms.containsAll(OWNER_RWX)) {
            perms.addAll(OWNER_RWX);
            view.setPermissions(perms);
        }
    }
}
