package io.mcpsandbox.runtime;

import io.mcpsandbox.host.Libc;
import io.mcpsandbox.model.RootFilesystem;
import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The writable root of a session that asked for one ({@code rootfs: "writable"}): the directories where
 * installs and configuration go ({@link #TREES}) become overlays on the host whose lower layer is the image's
 * own directory (or the host directory bound there) and whose upper layers all live on one tmpfs made for
 * this sandbox, capped at its size. Every backend binds the overlays read-write at their places over the
 * otherwise read-only root, so runc, runsc, docker and docker-runsc behave alike, and Docker needs no writable
 * layer of its own (it could not cap one on this storage driver).
 *
 * <p>The program runs as an unprivileged user, so a writable overlay alone would still refuse it: every
 * directory of a tree (up to {@link #MAX_OWNED_DIRS}) is made in the upper layer beforehand, owned by the
 * sandbox user. Overlayfs merges an upper directory with the lower one of the same path and shows the upper's
 * owner and mode, so nothing is copied and the image is never touched. Files keep the image's owner: they can
 * be replaced (written anew, renamed over, deleted), not edited in place.
 *
 * <p>Everything lives below one directory of the sandbox's own state: {@code store} (the tmpfs; root's alone)
 * and {@code tree-N} (the overlays). {@link #unmount(Path)} takes down every mount below it.
 */
public final class WritableRoot {
    private static final Logger log = LoggerFactory.getLogger(WritableRoot.class);
    private static final Set<PosixFilePermission> OWNER_RWX = EnumSet.of(PosixFilePermission.OWNER_READ,
            PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE);

    /** The directories a writable root lets the sandbox user write, where the image has them as directories. */
    public static final List<String> TREES = List.of("/etc", "/home", "/opt", "/root", "/srv", "/usr/local", "/var");
    /** Directories made the sandbox user's in all trees together; deeper ones keep the image's owner. */
    public static final int MAX_OWNED_DIRS = 20_000;
    /**
     * The store's inodes beyond the sandbox's own: the directories made here, the work directories, and the
     * xattrs overlayfs sets on upper directories (tmpfs charges them to its inode budget).
     */
    static final long STORE_OVERHEAD_INODES = 2L * MAX_OWNED_DIRS + 64;
    /** The store's directory in this root's directory. */
    static final String STORE = "store";

    /** One overlay: the host directory where it is mounted, and where the sandbox sees it. */
    public record Tree(Path merged, String destination) {
    }

    private final List<Tree> trees;

    private WritableRoot(List<Tree> trees) {
        this.trees = List.copyOf(trees);
    }

    /** The overlays, to bind read-write over the read-only root (parents before children). */
    public List<Tree> trees() {
        return trees;
    }

    /**
     * Mounts the store and an overlay per tree the image has, below {@code dir}. On failure everything mounted
     * so far is unmounted again.
     *
     * @param sizeBytes the store's size: what the sandbox can write to its root in all
     * @param inodes    files the sandbox may create in its root (the directories made here come on top)
     * @param ownerUid  host uid (and gid) of the sandbox user, who owns every directory of the trees
     */
    public static WritableRoot mount(Path dir, RootFilesystem rootfs, long sizeBytes, long inodes, long ownerUid)
            throws IOException {
        if (sizeBytes < 1) {
            throw new IllegalArgumentException("a writable root needs a size cap; got " + sizeBytes);
        }
        try {
            Files.createDirectories(dir);
            Path store = dir.resolve(STORE);
            Files.createDirectory(store);
            Libc.mount("mcp-sandbox-rootfs", store, "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV, "size=" + sizeBytes
                    + ",nr_inodes=" + (inodes + STORE_OVERHEAD_INODES) + ",mode=0700");
            int[] budget = {MAX_OWNED_DIRS};
            List<Tree> trees = new ArrayList<>();
            for (String tree : TREES) {
                Optional<Path> lower = lowerOf(rootfs, tree);
                if (lower.isEmpty()) {
                    continue;
                }
                int n = trees.size();
                Path upper = store.resolve("upper-" + n);
                Path work = store.resolve("work-" + n);
                Files.createDirectory(work);
                ownDirectories(lower.get(), upper, ownerUid, budget);
                Path merged = Files.createDirectory(dir.resolve("tree-" + n));
                Libc.mount("mcp-sandbox-rootfs", merged, "overlay", Libc.MS_NOSUID | Libc.MS_NODEV,
                        "lowerdir=" + optionPath(lower.get()) + ",upperdir=" + optionPath(upper) + ",workdir="
                                + optionPath(work)
                                // Each feature that would follow or trust something in the upper layer stays off.
                                + ",index=off,metacopy=off,redirect_dir=off");
                trees.add(new Tree(merged, tree));
            }
            if (budget[0] <= 0) {
                log.warn("{}: the image has more than {} directories in {}; the deeper ones stay the image's",
                        dir, MAX_OWNED_DIRS, TREES);
            }
            return new WritableRoot(trees);
        } catch (IOException | RuntimeException e) {
            unmount(dir);
            throw e;
        }
    }

    /**
     * Why this host cannot give writable roots, if it cannot: its kernel has no overlayfs loaded (a module not
     * loaded yet counts as missing: the operator loads it, and the refusal says how).
     */
    public static Optional<String> unsupportedReason() {
        try {
            boolean overlay = Files.readAllLines(Path.of("/proc/filesystems")).stream()
                    .map(l -> l.strip().split("\\s+")).anyMatch(f -> f[f.length - 1].equals("overlay"));
            return overlay ? Optional.empty()
                    : Optional.of("this host's kernel has no overlayfs loaded (modprobe overlay); a writable root "
                            + "needs it");
        } catch (IOException e) {
            return Optional.of("cannot read /proc/filesystems: " + e.getMessage());
        }
    }

    /**
     * Where the image's content of {@code tree} lies on the host: below the deepest host bind that covers it,
     * else below the root directory. Empty when it is not a directory there (missing, a file or reached
     * through a link: such a tree stays as the image has it), or when the host mounts something below it (an
     * overlay would show what lies under that mount instead).
     */
    static Optional<Path> lowerOf(RootFilesystem rootfs, String tree) {
        Path base = rootfs.rootDir();
        String rest = tree.substring(1);
        int deepest = -1;
        for (RootFilesystem.HostBind bind : rootfs.binds()) {
            String d = bind.destination();
            if ((tree.equals(d) || tree.startsWith(d + "/")) && d.length() > deepest) {
                deepest = d.length();
                base = bind.source();
                rest = tree.equals(d) ? "" : tree.substring(d.length() + 1);
            }
        }
        Path p = base;
        for (String segment : rest.isEmpty() ? new String[0] : rest.split("/")) {
            p = p.resolve(segment);
            if (!Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                return Optional.empty();
            }
        }
        if (deepest >= 0 && !HostMounts.submountsUnder(p).isEmpty()) {
            log.warn("{} stays read-only in writable roots: the host mounts something below {}", tree, p);
            return Optional.empty();
        }
        return Optional.of(p);
    }

    /**
     * Makes {@code upper} and a directory in it for every directory below {@code lower} (never through a
     * link), owned by {@code ownerUid}, with the lower one's mode plus the owner's rwx.
     */
    private static void ownDirectories(Path lower, Path upper, long ownerUid, int[] budget) throws IOException {
        Files.walkFileTree(lower, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) throws IOException {
                Path target = upper.resolve(lower.relativize(d).toString());
                if (budget[0] <= 0 && !target.equals(upper)) {
                    return FileVisitResult.SKIP_SUBTREE; // spent: this one keeps the image's owner
                }
                Set<PosixFilePermission> mode = EnumSet.copyOf(Files.getPosixFilePermissions(d,
                        LinkOption.NOFOLLOW_LINKS));
                mode.addAll(OWNER_RWX);
                Files.createDirectory(target, PosixFilePermissions.asFileAttribute(mode));
                Files.setPosixFilePermissions(target, mode); // the umask took some
                Files.setAttribute(target, "unix:uid", (int) ownerUid, LinkOption.NOFOLLOW_LINKS);
                Files.setAttribute(target, "unix:gid", (int) ownerUid, LinkOption.NOFOLLOW_LINKS);
                budget[0]--;
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path f, IOException e) {
                return FileVisitResult.CONTINUE; // an unreadable entry of the image keeps its owner
            }
        });
    }

    /** Overlay options are split at commas and lower layers at colons: a path holding either is refused. */
    private static String optionPath(Path p) throws IOException {
        String s = p.toAbsolutePath().toString();
        if (s.matches(".*[,:\\\\\\s].*")) {
            throw new IOException("cannot make an overlay of " + s + ": the path holds a comma, colon, backslash "
                    + "or space");
        }
        return s;
    }

    /**
     * Unmounts every mount below {@code dir}, deepest first, lazily where something still holds one. Never
     * throws; {@link #anyMounted} tells whether it worked.
     */
    public static void unmount(Path dir) {
        List<String> points;
        try {
            points = mountsBelow(dir);
        } catch (IOException e) {
            log.warn("cannot read the mount table: {}", e.getMessage());
            return;
        }
        for (String point : points) {
            try {
                WorkspaceTmpfs.unmountOrDetach(Path.of(point));
            } catch (IOException e) {
                log.warn("cannot unmount {}: {}", point, e.getMessage());
            }
        }
    }

    /** Whether anything is still mounted below {@code dir} (a directory tree must not be deleted then). */
    public static boolean anyMounted(Path dir) {
        try {
            return !mountsBelow(dir).isEmpty();
        } catch (IOException e) {
            return true; // in doubt, keep the tree
        }
    }

    private static List<String> mountsBelow(Path dir) throws IOException {
        String prefix = dir.toAbsolutePath().normalize() + "/";
        List<String> points = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mounts"))) {
            String[] fields = line.split(" ");
            if (fields.length > 1) {
                String point = HostMounts.unescape(fields[1]);
                if (point.startsWith(prefix) && !points.contains(point)) {
                    points.add(point);
                }
            }
        }
        points.sort(Comparator.comparingInt(String::length).reversed());
        return points;
    }
}
