package io.mcpsandbox.image;

import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.runtime.HostCommand;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The image catalog in the data directory. Besides the built-in {@code host} image it holds OCI images:
 * <ul>
 *   <li>{@code <imagesDir>/oci/}: one OCI image layout; each catalog name is a tag in its index
 *       (written by skopeo from a {@code docker save} archive, an OCI archive or a registry);</li>
 *   <li>{@code <imagesDir>/unpacked/<hex>/rootfs}: the root filesystem of manifest {@code sha256:<hex>},
 *       unpacked by umoci, hardened and then shared read-only by every sandbox of that image.</li>
 * </ul>
 * Layers are only ever extracted by umoci (no tar extractor of ours). Changes are serialized across
 * processes by a lock file, so a CLI import next to a running server is safe.
 */
public final class ImageCatalog {
    private static final Logger log = LoggerFactory.getLogger(ImageCatalog.class);
    private static final String REF_ANNOTATION = "org.opencontainers.image.ref.name";
    private static final Duration LOCAL_TIMEOUT = Duration.ofMinutes(10);
    private static final Duration PULL_TIMEOUT = Duration.ofMinutes(15);
    /** Mount points every bundle uses; created at unpack time so a runtime never writes into the shared root. */
    private static final List<String> MOUNT_POINTS = List.of("proc", "dev", "sys", "tmp", "workspace");
    private static final Object JVM_LOCK = new Object();

    private final Path imagesDir;
    private final HostImage host;
    private final JsonMapper json = JsonMapper.builder().build();
    private volatile RootFilesystem hostRoot;

    public ImageCatalog(Path imagesDir, HostImage host) {
        this.imagesDir = imagesDir;
        this.host = host;
    }

    public Path layoutDir() {
        return imagesDir.resolve("oci");
    }

    public Path unpackedDir() {
        return imagesDir.resolve("unpacked");
    }

    /** The built-in host image, built on first use. */
    public RootFilesystem host() throws IOException {
        RootFilesystem cached = hostRoot;
        if (cached == null) {
            synchronized (this) {
                if (hostRoot == null) {
                    hostRoot = host.materialize();
                }
                cached = hostRoot;
            }
        }
        return cached;
    }

    /** Every image: the built-in ones first, then the OCI images by name. */
    public List<CatalogImage> list() throws IOException {
        List<CatalogImage> images = new ArrayList<>();
        RootFilesystem h = host();
        images.add(new CatalogImage(HostImage.NAME, CatalogImage.BUILTIN,
                "host:" + h.rootDir().getParent().getFileName(), 0, true));
        for (Tag tag : tags()) {
            images.add(new CatalogImage(tag.name(), CatalogImage.OCI, tag.digest(), layersSize(tag.digest()),
                    Files.isDirectory(rootDir(tag.digest()))));
        }
        return images;
    }

    /** The names of every image, built-in included. */
    public List<String> names() throws IOException {
        List<String> names = new ArrayList<>();
        names.add(HostImage.NAME);
        tags().forEach(t -> names.add(t.name()));
        return names;
    }

    /** The manifest digest of an OCI image of the catalog. */
    public Optional<String> digest(String name) throws IOException {
        return tags().stream().filter(t -> t.name().equals(name)).map(Tag::digest).findFirst();
    }

    /**
     * The root filesystem of an OCI image, unpacked on first use (an import unpacks at once; this covers
     * a catalog copied from elsewhere or an unpacked root removed to save space).
     */
    public RootFilesystem rootfs(String name, String digest) throws IOException, ImageCatalogException {
        Path root = rootDir(digest);
        if (!Files.isDirectory(root)) {
            try (CatalogLock ignored = lock()) {
                if (!Files.isDirectory(root)) {
                    if (!digest(name).map(digest::equals).orElse(false)) {
                        throw new ImageCatalogException("image '" + name + "' changed while it was being resolved");
                    }
                    unpack(name, digest);
                }
            }
        }
        return new RootFilesystem(name, root, List.of());
    }

    /**
     * Imports a {@code docker save} archive or an OCI archive (tar) under {@code name}, replacing an image of
     * that name, and unpacks it.
     */
    public CatalogImage importArchive(String name, Path archive) throws ImageCatalogException {
        checkNewName(name);
        if (!Files.isRegularFile(archive)) {
            throw new ImageCatalogException("cannot import " + archive + ": not a file");
        }
        String transport = archiveTransport(archive);
        return copyIn(name, transport + ":" + archive.toAbsolutePath(), LOCAL_TIMEOUT,
                "cannot import " + archive);
    }

    /** Pulls {@code ref} (e.g. {@code docker.io/library/alpine:3.20}) from its registry with skopeo. */
    public CatalogImage pull(String ref, String name) throws ImageCatalogException {
        String r = ref.startsWith("docker://") ? ref.substring("docker://".length()) : ref;
        if (r.isEmpty() || r.startsWith("-") || !r.matches("[A-Za-z0-9._/:@+-]+")) {
            throw new ImageCatalogException("'" + ref + "' is not an image reference (e.g. docker.io/library/alpine:3.20)");
        }
        String target = name != null ? name : ImageNames.fromReference(r);
        checkNewName(target);
        return copyIn(target, "docker://" + r, PULL_TIMEOUT, "cannot pull " + r);
    }

    /** Removes an OCI image: its tag, blobs no other image uses, and its unpacked root if no other name shares it. */
    public void remove(String name) throws ImageCatalogException {
        if (HostImage.NAME.equals(name)) {
            throw new ImageCatalogException("'" + name + "' is a built-in image and cannot be removed");
        }
        try (CatalogLock ignored = lock()) {
            String digest = digest(name).orElseThrow(() -> new ImageCatalogException(
                    "image '" + name + "' is not in the catalog"));
            run(List.of("umoci", "rm", "--image", layoutDir() + ":" + name), "cannot remove " + name);
            run(List.of("umoci", "gc", "--layout", layoutDir().toString()), "cannot collect unused blobs");
            if (tags().stream().noneMatch(t -> t.digest().equals(digest))) {
                deleteTree(rootDir(digest).getParent());
            }
        } catch (IOException e) {
            throw new ImageCatalogException("cannot remove " + name + ": " + e.getMessage(), e);
        }
    }

    private CatalogImage copyIn(String name, String source, Duration timeout, String what) throws ImageCatalogException {
        try (CatalogLock ignored = lock()) {
            Files.createDirectories(layoutDir());
            Optional<String> before = digest(name);
            List<String> argv = new ArrayList<>(List.of("skopeo"));
            policy().ifPresent(p -> argv.addAll(List.of("--policy", p.toString())));
            argv.addAll(List.of("copy", "--quiet", "--retry-times", "0", source, "oci:" + layoutDir() + ":" + name));
            HostCommand.Result r = HostCommand.run(argv, timeout);
            if (!r.ok()) {
                throw new ImageCatalogException(what + ": " + explain(source, r.message()));
            }
            String digest = digest(name).orElseThrow(() -> new ImageCatalogException(
                    what + ": skopeo reported success but the layout has no tag '" + name + "'"));
            if (!Files.isDirectory(rootDir(digest))) {
                unpack(name, digest);
            }
            if (before.isPresent() && !before.get().equals(digest)) {
                run(List.of("umoci", "gc", "--layout", layoutDir().toString()), "cannot collect unused blobs");
                String old = before.get();
                if (tags().stream().noneMatch(t -> t.digest().equals(old))) {
                    deleteTree(rootDir(old).getParent());
                }
            }
            log.info("image {} is {} (from {})", name, digest, source);
            return new CatalogImage(name, CatalogImage.OCI, digest, layersSize(digest), true);
        } catch (IOException e) {
            throw new ImageCatalogException(what + ": " + e.getMessage(), e);
        }
    }

    private static String explain(String source, String message) {
        String m = message.toLowerCase(Locale.ROOT);
        if (source.startsWith("docker://") && (m.contains("dial tcp") || m.contains("lookup ")
                || m.contains("no such host") || m.contains("connection refused") || m.contains("i/o timeout")
                || m.contains("network is unreachable") || m.contains("tls handshake timeout")
                || m.contains("temporary failure in name resolution") || m.contains("pinging container registry"))) {
            return "the registry cannot be reached from this host (" + message.strip()
                    + "); import an archive instead (images import --name NAME ARCHIVE)";
        }
        return message;
    }

    /** skopeo refuses to run without a signature policy; only where the host has none, ours accepts any. */
    private Optional<Path> policy() throws IOException {
        if (Files.isRegularFile(Path.of("/etc/containers/policy.json"))) {
            return Optional.empty();
        }
        Path p = imagesDir.resolve("policy.json");
        if (!Files.isRegularFile(p)) {
            Files.writeString(p, "{\"default\":[{\"type\":\"insecureAcceptAnything\"}]}\n");
        }
        return Optional.of(p);
    }

    /** docker-archive or oci-archive, told apart by the archive's index files (listed, never extracted). */
    private static String archiveTransport(Path archive) throws ImageCatalogException {
        HostCommand.Result r;
        try {
            r = HostCommand.run(List.of("tar", "-tf", archive.toAbsolutePath().toString()), LOCAL_TIMEOUT);
        } catch (IOException e) {
            throw new ImageCatalogException("cannot read " + archive + ": " + e.getMessage(), e);
        }
        if (!r.ok()) {
            throw new ImageCatalogException("cannot import " + archive + ": not a tar archive (" + r.message() + ")");
        }
        List<String> entries = r.stdout().lines().map(l -> l.startsWith("./") ? l.substring(2) : l).toList();
        if (entries.contains("oci-layout") && entries.contains("index.json")) {
            return "oci-archive";
        }
        if (entries.contains("manifest.json")) {
            return "docker-archive";
        }
        throw new ImageCatalogException("cannot import " + archive + ": neither a docker save archive (manifest.json) "
                + "nor an OCI archive (oci-layout, index.json)");
    }

    private void unpack(String name, String digest) throws IOException, ImageCatalogException {
        Path target = rootDir(digest).getParent();
        Files.createDirectories(unpackedDir());
        Path staging = unpackedDir().resolve(".staging-" + UUID.randomUUID());
        try {
            run(List.of("umoci", "unpack", "--image", layoutDir() + ":" + name, staging.toString()),
                    "cannot unpack " + name);
            try (Stream<Path> files = Files.list(staging)) {
                for (Path f : files.filter(f -> f.getFileName().toString().endsWith(".mtree")).toList()) {
                    Files.delete(f);
                }
            }
            harden(staging.resolve("rootfs"));
            Files.setPosixFilePermissions(staging, PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            deleteTree(staging);
        }
    }

    /**
     * Makes an unpacked root safe to share: every mount point a bundle uses exists (a real directory, not a
     * symlink an image planted), /tmp is 1777 (runc gives a tmpfs the mode of the directory it covers), the
     * init mount point is an empty file; device nodes and sockets are removed and set-id bits cleared.
     */
    static void harden(Path rootfs) throws IOException {
        Files.setPosixFilePermissions(rootfs, PosixFilePermissions.fromString("rwxr-xr-x"));
        for (String mp : MOUNT_POINTS) {
            Path p = rootfs.resolve(mp);
            if (Files.isSymbolicLink(p) || Files.exists(p, LinkOption.NOFOLLOW_LINKS)
                    && !Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                Files.delete(p);
            }
            Files.createDirectories(p);
            Files.setAttribute(p, "unix:mode", mp.equals("tmp") ? 01777 : 0755, LinkOption.NOFOLLOW_LINKS);
        }
        Path init = rootfs.resolve(RootFilesystem.INIT_MOUNT_POINT.substring(1));
        if (Files.exists(init, LinkOption.NOFOLLOW_LINKS) || Files.isSymbolicLink(init)) {
            if (Files.isDirectory(init, LinkOption.NOFOLLOW_LINKS)) {
                deleteTree(init);
            } else {
                Files.delete(init);
            }
        }
        Files.createFile(init);
        Files.setAttribute(init, "unix:mode", 0644);
        List<Path> all;
        try (Stream<Path> walk = Files.walk(rootfs)) {
            all = walk.toList();
        }
        for (Path p : all) {
            if (Files.isSymbolicLink(p)) {
                continue;
            }
            int mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            int type = mode & 0170000;
            if (type == 0020000 || type == 0060000 || type == 0140000) { // char, block device; socket
                Files.delete(p);
            } else if (type == 0100000 && (mode & 06000) != 0) {
                Files.setAttribute(p, "unix:mode", mode & 01777, LinkOption.NOFOLLOW_LINKS);
            }
        }
    }

    Path rootDir(String digest) {
        return unpackedDir().resolve(hex(digest)).resolve("rootfs");
    }

    private static String hex(String digest) {
        if (!digest.matches("sha256:[0-9a-f]{64}")) {
            throw new IllegalArgumentException("not a sha256 digest: " + digest);
        }
        return digest.substring("sha256:".length());
    }

    private record Tag(String name, String digest) {
    }

    private List<Tag> tags() throws IOException {
        Path index = layoutDir().resolve("index.json");
        if (!Files.isRegularFile(index)) {
            return List.of();
        }
        List<Tag> tags = new ArrayList<>();
        JsonNode root = json.readTree(Files.readString(index));
        for (JsonNode m : root.path("manifests")) {
            String name = m.path("annotations").path(REF_ANNOTATION).asString("");
            String digest = m.path("digest").asString("");
            if (!name.isEmpty() && digest.matches("sha256:[0-9a-f]{64}")) {
                tags.add(new Tag(name, digest));
            }
        }
        tags.sort(Comparator.comparing(Tag::name));
        return tags;
    }

    private long layersSize(String digest) {
        try {
            JsonNode manifest = json.readTree(Files.readString(
                    layoutDir().resolve("blobs/sha256").resolve(hex(digest))));
            long size = 0;
            for (JsonNode layer : manifest.path("layers")) {
                size += layer.path("size").asLong(0);
            }
            return size;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    private void checkNewName(String name) throws ImageCatalogException {
        try {
            ImageNames.check(name);
        } catch (IllegalArgumentException e) {
            throw new ImageCatalogException(e.getMessage());
        }
        if (HostImage.NAME.equals(name)) {
            throw new ImageCatalogException("'" + name + "' is the name of a built-in image");
        }
    }

    private static void run(List<String> argv, String what) throws IOException {
        HostCommand.Result r = HostCommand.run(argv, LOCAL_TIMEOUT);
        if (!r.ok()) {
            throw new IOException(what + ": " + r.message());
        }
    }

    private CatalogLock lock() throws IOException {
        Files.createDirectories(imagesDir);
        return new CatalogLock(imagesDir.resolve("catalog.lock"));
    }

    /** Serializes catalog changes across threads and processes. */
    private static final class CatalogLock implements AutoCloseable {
        private final FileChannel channel;
        private final FileLock lock;

        CatalogLock(Path file) throws IOException {
            synchronized (JVM_LOCK) {
                // Entered here and released in close(): one holder per JVM, the file lock across processes.
                while (held) {
                    try {
                        JVM_LOCK.wait();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IOException("interrupted while waiting for the catalog lock", e);
                    }
                }
                held = true;
            }
            FileChannel c = null;
            try {
                c = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                this.lock = c.lock();
                this.channel = c;
            } catch (IOException | RuntimeException e) {
                if (c != null) {
                    c.close();
                }
                release();
                throw e;
            }
        }

        private static boolean held;

        private static void release() {
            synchronized (JVM_LOCK) {
                held = false;
                JVM_LOCK.notifyAll();
            }
        }

        @Override
        public void close() throws IOException {
            try {
                lock.release();
                channel.close();
            } finally {
                release();
            }
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
