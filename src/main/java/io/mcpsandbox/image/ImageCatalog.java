package io.mcpsandbox.image;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.host.HostCommand;
import io.mcpsandbox.model.RootFilesystem;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The image catalog in the data directory. Besides the built-in {@code host} image it holds OCI images:
 * <ul>
 *   <li>{@code <imagesDir>/oci/}: one OCI image layout; each catalog name ({@link ImageReference#name()}) is a
 *       tag in its index, escaped by {@link ImageNames} (written by skopeo from a {@code docker save} archive,
 *       an OCI archive or a registry);</li>
 *   <li>{@code <imagesDir>/unpacked/<hex>/rootfs}: the root filesystem of manifest {@code sha256:<hex>},
 *       unpacked by umoci, hardened and then shared read-only by every sandbox of that image.</li>
 * </ul>
 * No name is ever used as a path. Layers are only ever extracted by umoci (no tar extractor of ours). Methods
 * take image references as users write them ({@code alpine}, {@code alpine:3.19},
 * {@code docker.io/library/alpine:3.19@sha256:...}); a digest in one must match the stored image's. Changes are
 * serialized across
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
    /** Where skopeo writes before the digest is checked; upper case, so never an escaped or older name. */
    private static final String STAGING_PREFIX = "Staging-";

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

    /**
     * The manifest digest of an OCI image of the catalog ({@code name} is a reference; its digest, if any, is
     * not checked here).
     *
     * @throws IllegalArgumentException if {@code name} is not an image reference
     */
    public Optional<String> digest(String name) throws IOException {
        return find(ImageReference.parse("image", name).name()).map(Tag::digest);
    }

    private Optional<Tag> find(String name) throws IOException {
        return tags().stream().filter(t -> t.name().equals(name)).findFirst();
    }

    /**
     * The root filesystem of an OCI image, unpacked on first use (an import unpacks at once; this covers
     * a catalog copied from elsewhere or an unpacked root removed to save space).
     */
    public RootFilesystem rootfs(String name, String digest) throws IOException, ImageCatalogException {
        String key = reference("image", name).name();
        Path root = rootDir(digest);
        if (!Files.isDirectory(root)) {
            try (CatalogLock ignored = lock()) {
                if (!Files.isDirectory(root)) {
                    Tag tag = find(key).filter(t -> t.digest().equals(digest)).orElseThrow(() ->
                            new ImageCatalogException("image '" + key + "' changed while it was being resolved"));
                    unpack(tag.layoutTag(), digest);
                }
            }
        }
        return new RootFilesystem(key, root, List.of());
    }

    /**
     * Imports a {@code docker save} archive or an OCI archive (tar) under {@code name}, replacing an image of
     * that name, and unpacks it.
     */
    public CatalogImage importArchive(String name, Path archive) throws ImageCatalogException {
        ImageReference target = checkNewName(name);
        if (!Files.isRegularFile(archive)) {
            throw new ImageCatalogException("cannot import " + archive + ": not a file");
        }
        String transport = archiveTransport(archive);
        return copyIn(target, transport + ":" + archive.toAbsolutePath(), LOCAL_TIMEOUT,
                "cannot import " + archive);
    }

    /**
     * Pulls {@code ref} (e.g. {@code python:3.11-slim}, {@code ghcr.io/org/tool:1.2}) from its registry with
     * skopeo, under {@code name} or else under the reference's own name ({@code python:3.11-slim}). A digest
     * in {@code ref} is the registry's: skopeo pulls by it and verifies the content (the stored OCI digest may
     * differ where skopeo converts a Docker manifest); a digest in {@code name} must match the stored one.
     */
    public CatalogImage pull(String ref, String name) throws ImageCatalogException {
        String r = ref.startsWith("docker://") ? ref.substring("docker://".length()) : ref;
        ImageReference source = reference("REF", r);
        ImageReference target = name != null ? checkNewName(name) : checkNewName(source.withoutDigest().name());
        String remote = source.registryReference();
        return copyIn(target, "docker://" + remote, PULL_TIMEOUT, "cannot pull " + remote);
    }

    /** Removes an OCI image: its tag, blobs no other image uses, and its unpacked root if no other name shares it. */
    public void remove(String name) throws ImageCatalogException {
        ImageReference ref = reference("NAME", name);
        if (ref.isHost()) {
            throw new ImageCatalogException("'" + name + "' is a built-in image and cannot be removed");
        }
        try (CatalogLock ignored = lock()) {
            Tag tag = find(ref.name()).orElseThrow(() -> new ImageCatalogException(
                    "image '" + ref.name() + "' is not in the catalog"));
            String digest = tag.digest();
            if (ref.digest() != null && !ref.digest().equals(digest)) {
                throw new ImageCatalogException("image '" + ref.name() + "' has digest " + digest + ", not "
                        + ref.digest() + ": not removed");
            }
            run(List.of("umoci", "rm", "--image", layoutDir() + ":" + tag.layoutTag()), "cannot remove " + name);
            run(List.of("umoci", "gc", "--layout", layoutDir().toString()), "cannot collect unused blobs");
            if (tags().stream().noneMatch(t -> t.digest().equals(digest))) {
                DeleteTree.delete(rootDir(digest).getParent());
            }
        } catch (IOException e) {
            throw new ImageCatalogException("cannot remove " + name + ": " + e.getMessage(), e);
        }
    }

    /**
     * Copies into a staging tag, checks the digest {@code target} may require, then moves the staging tag to
     * the target's name: a refused image never replaces the one of that name.
     */
    private CatalogImage copyIn(ImageReference target, String source, Duration timeout, String what)
            throws ImageCatalogException {
        String name = target.name();
        String layoutTag = ImageNames.layoutTag(name);
        String staging = STAGING_PREFIX + UUID.randomUUID();
        try (CatalogLock ignored = lock()) {
            Files.createDirectories(layoutDir());
            Optional<Tag> previous = find(name);
            Optional<String> before = previous.map(Tag::digest);
            List<String> argv = new ArrayList<>(List.of("skopeo"));
            policy().ifPresent(p -> argv.addAll(List.of("--policy", p.toString())));
            argv.addAll(List.of("copy", "--quiet", "--retry-times", "0", source, "oci:" + layoutDir() + ":" + staging));
            HostCommand.Result r = HostCommand.run(argv, timeout);
            if (!r.ok()) {
                dropStaging(staging);
                throw new ImageCatalogException(what + ": " + explain(source, r.message()));
            }
            String digest = layoutDigest(staging).orElseThrow(() -> new ImageCatalogException(
                    what + ": skopeo reported success but the layout has no tag '" + staging + "'"));
            if (target.digest() != null && !target.digest().equals(digest)) {
                dropStaging(staging);
                throw new ImageCatalogException(what + ": its manifest digest is " + digest + ", not "
                        + target.digest() + " as the name '" + target + "' requires; nothing was stored");
            }
            run(List.of("umoci", "tag", "--image", layoutDir() + ":" + staging, layoutTag), "cannot tag " + name);
            run(List.of("umoci", "rm", "--image", layoutDir() + ":" + staging), "cannot drop the staging tag");
            if (previous.isPresent() && !previous.get().layoutTag().equals(layoutTag)) {
                // Stored before names were escaped: one tag per name.
                run(List.of("umoci", "rm", "--image", layoutDir() + ":" + previous.get().layoutTag()),
                        "cannot drop the old tag of " + name);
            }
            if (!Files.isDirectory(rootDir(digest))) {
                unpack(layoutTag, digest);
            }
            if (before.isPresent() && !before.get().equals(digest)) {
                run(List.of("umoci", "gc", "--layout", layoutDir().toString()), "cannot collect unused blobs");
                String old = before.get();
                if (tags().stream().noneMatch(t -> t.digest().equals(old))) {
                    DeleteTree.delete(rootDir(old).getParent());
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

    private void dropStaging(String staging) {
        try {
            if (layoutDigest(staging).isPresent()) {
                run(List.of("umoci", "rm", "--image", layoutDir() + ":" + staging), "cannot drop " + staging);
            }
            run(List.of("umoci", "gc", "--layout", layoutDir().toString()), "cannot collect unused blobs");
        } catch (IOException e) {
            log.warn("{}", e.getMessage());
        }
    }

    /** Unpacks the image under layout tag {@code layoutTag}. */
    private void unpack(String layoutTag, String digest) throws IOException, ImageCatalogException {
        Path target = rootDir(digest).getParent();
        Files.createDirectories(unpackedDir());
        Path staging = unpackedDir().resolve(".staging-" + UUID.randomUUID());
        try {
            run(List.of("umoci", "unpack", "--image", layoutDir() + ":" + layoutTag, staging.toString()),
                    "cannot unpack " + digest);
            try (Stream<Path> files = Files.list(staging)) {
                for (Path f : files.filter(f -> f.getFileName().toString().endsWith(".mtree")).toList()) {
                    Files.delete(f);
                }
            }
            harden(staging.resolve("rootfs"));
            Files.setPosixFilePermissions(staging, PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            DeleteTree.delete(staging);
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
        DeleteTree.delete(init); // whatever the image put there: a file, a link (not followed), a directory
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

    /** One image of the layout: its tag there, the catalog name that tag stands for, its manifest digest. */
    private record Tag(String layoutTag, String name, String digest) {
    }

    /** The layout's tags with a catalog name, by name; where two tags mean one name, the escaped one wins. */
    private List<Tag> tags() throws IOException {
        Map<String, Tag> byName = new TreeMap<>();
        for (Map.Entry<String, String> e : layoutTags().entrySet()) {
            Optional<String> name = ImageNames.fromLayoutTag(e.getKey());
            if (e.getKey().startsWith(STAGING_PREFIX) || name.isEmpty() || name.get().equals(HostImage.NAME)) {
                continue;
            }
            Tag tag = new Tag(e.getKey(), name.get(), e.getValue());
            byName.merge(tag.name(), tag, (a, b) -> b.layoutTag().equals(ImageNames.layoutTag(b.name())) ? b : a);
        }
        return List.copyOf(byName.values());
    }

    private Optional<String> layoutDigest(String layoutTag) throws IOException {
        return Optional.ofNullable(layoutTags().get(layoutTag));
    }

    /** layout tag -> manifest digest, from the layout's index. */
    private Map<String, String> layoutTags() throws IOException {
        Path index = layoutDir().resolve("index.json");
        Map<String, String> tags = new LinkedHashMap<>();
        if (!Files.isRegularFile(index)) {
            return tags;
        }
        JsonNode root = json.readTree(Files.readString(index));
        for (JsonNode m : root.path("manifests")) {
            String tag = m.path("annotations").path(REF_ANNOTATION).asString("");
            String digest = m.path("digest").asString("");
            if (!tag.isEmpty() && digest.matches("sha256:[0-9a-f]{64}")) {
                tags.put(tag, digest);
            }
        }
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

    private static ImageReference checkNewName(String name) throws ImageCatalogException {
        ImageReference ref = reference("NAME", name);
        if (ref.isHost()) {
            throw new ImageCatalogException("'" + name + "' is the name of a built-in image");
        }
        return ref;
    }

    private static ImageReference reference(String field, String value) throws ImageCatalogException {
        try {
            return ImageReference.parse(field, value);
        } catch (IllegalArgumentException e) {
            throw new ImageCatalogException(e.getMessage());
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
}
