package io.mcpsandbox.runtime.docker;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.exception.DockerException;
import com.github.dockerjava.api.exception.NotFoundException;
import com.github.dockerjava.api.model.Container;
import com.github.dockerjava.api.model.Image;
import com.github.dockerjava.api.model.Info;
import com.github.dockerjava.core.DefaultDockerClientConfig;
import com.github.dockerjava.core.DockerClientConfig;
import com.github.dockerjava.core.DockerClientImpl;
import com.github.dockerjava.httpclient5.ApacheDockerHttpClient;
import io.mcpsandbox.runtime.HostCommand;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.WorkspaceTmpfs;
import io.mcpsandbox.runtime.oci.CgroupReader;
import io.mcpsandbox.runtime.oci.OciFlavor;
import io.mcpsandbox.runtime.oci.SeccompProfile;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.json.JsonMapper;

/**
 * One Docker daemon as seen by mcp-sandbox, shared by the {@code docker} and {@code docker-runsc} runtimes:
 * the Engine API clients, the images built from our root filesystems, the per-sandbox host directories
 * (workspace tmpfs), the labels that mark our containers and the reaping of those a dead process left.
 */
public final class DockerEngine implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DockerEngine.class);
    public static final String DEFAULT_HOST = "unix:///var/run/docker.sock";
    /** Repository of the images made from our root filesystems; the tag is a hash of the root's path. */
    public static final String IMAGE_REPOSITORY = "mcp-sandbox-rootfs";
    public static final String LABEL_EXECUTION = "io.mcpsandbox.execution";
    public static final String LABEL_OWNER = "io.mcpsandbox.owner";
    public static final String LABEL_SANDBOX_DIR = "io.mcpsandbox.sandbox-dir";
    /** On our daemon images: the root directory an image was made from (gone = the image can go). */
    public static final String LABEL_ROOTFS = "io.mcpsandbox.rootfs";
    /** cgroup parent (cgroupfs driver) under which Docker puts the container's cgroup; usage is read from it. */
    static final String CGROUP_PARENT = "/mcp-sandbox";

    private final String host;
    private final Path workDir;
    private final Path init;
    private final Path envHelper;
    private final CgroupReader cgroups;
    private final String seccompRunc;
    private final String seccompRunsc;
    private final OwnerId owner = OwnerId.self();
    private final Map<String, Object> imageLocks = new ConcurrentHashMap<>();
    private volatile DockerClient control;
    private volatile DockerClient streams;

    /**
     * @param host      the daemon's address; only a local daemon works (the workspace and the host image are
     *                  bind-mounted host paths)
     * @param workDir   our per-sandbox host directories and image index (e.g. {@code <data dir>/docker})
     * @param init      tini-static, bound read-only at /.mcp-init as every sandbox's PID 1
     * @param envHelper a static busybox, bound read-only at /.mcp-bin/busybox to start the program with
     *                  {@code env -u HOSTNAME} (Docker always adds HOSTNAME); null to skip that
     */
    public DockerEngine(String host, Path workDir, Path init, Path envHelper, SeccompProfile seccomp,
                        CgroupReader cgroups) {
        this.host = host;
        this.workDir = workDir;
        this.init = init;
        this.envHelper = envHelper;
        this.cgroups = cgroups;
        JsonMapper json = JsonMapper.builder().build();
        this.seccompRunc = json.writeValueAsString(seccomp.forFlavor(OciFlavor.RUNC));
        this.seccompRunsc = json.writeValueAsString(seccomp.forFlavor(OciFlavor.RUNSC));
    }

    public String host() {
        return host;
    }

    Path init() {
        return init;
    }

    Optional<Path> envHelper() {
        return envHelper != null && Files.isRegularFile(envHelper) ? Optional.of(envHelper) : Optional.empty();
    }

    OwnerId owner() {
        return owner;
    }

    CgroupReader cgroups() {
        return cgroups;
    }

    String seccomp(boolean gvisor) {
        return gvisor ? seccompRunsc : seccompRunc;
    }

    Path sandboxDir(String name) {
        return workDir.resolve("sandboxes").resolve(name);
    }

    /** Calls that answer at once (create, inspect, kill, remove): bounded by a response timeout. */
    DockerClient control() {
        DockerClient c = control;
        if (c == null) {
            synchronized (this) {
                if (control == null) {
                    control = client(Duration.ofSeconds(60));
                }
                c = control;
            }
        }
        return c;
    }

    /** Long-lived calls (attach, wait, image import): no response timeout; the execution's deadline bounds them. */
    DockerClient streams() {
        DockerClient c = streams;
        if (c == null) {
            synchronized (this) {
                if (streams == null) {
                    streams = client(null);
                }
                c = streams;
            }
        }
        return c;
    }

    private DockerClient client(Duration responseTimeout) {
        DockerClientConfig config = DefaultDockerClientConfig.createDefaultConfigBuilder()
                .withDockerHost(host).withDockerTlsVerify(false).build();
        ApacheDockerHttpClient.Builder http = new ApacheDockerHttpClient.Builder()
                .dockerHost(config.getDockerHost()).sslConfig(config.getSSLConfig())
                .maxConnections(256).connectionTimeout(Duration.ofSeconds(10));
        if (responseTimeout != null) {
            http.responseTimeout(responseTimeout);
        }
        return DockerClientImpl.getInstance(config, http.build());
    }

    /** The daemon's info, or why it does not answer. */
    Info info() throws IOException {
        try {
            control().pingCmd().exec();
            return control().infoCmd().exec();
        } catch (RuntimeException e) {
            throw new IOException("no Docker daemon answers at " + host + ": " + rootMessage(e), e);
        }
    }

    /** The cgroup parent for a sandbox, when the daemon's cgroupfs driver lets us read usage from it. */
    Optional<String> cgroupParent(String name) {
        String driver = cgroupDriver;
        if (driver == null) {
            try {
                driver = String.valueOf(info().getCGroupDriver());
                cgroupDriver = driver;
            } catch (IOException e) {
                return Optional.empty();
            }
        }
        return "cgroupfs".equals(driver) ? Optional.of(CGROUP_PARENT + "/" + name) : Optional.empty();
    }

    private volatile String cgroupDriver;

    /**
     * The daemon image made from {@code rootDir}, imported once (tar of the directory streamed to
     * {@code docker import}) and named by a hash of the directory's path: catalog roots are content-addressed,
     * so one path is one content.
     */
    String ensureImage(Path rootDir) throws IOException {
        String tag = tagFor(rootDir);
        String ref = IMAGE_REPOSITORY + ":" + tag;
        synchronized (imageLocks.computeIfAbsent(tag, t -> new Object())) {
            try {
                control().inspectImageCmd(ref).exec();
                recordImage(tag, rootDir);
                return ref;
            } catch (NotFoundException missing) {
                // imported below
            }
            // A one-layer `docker save` archive, loaded with `docker load` (the Engine API's import endpoint
            // receives a short body from docker-java 3.7.1: "unexpected EOF").
            Path staging = workDir.resolve("images").resolve(".load-" + tag + "-" + ProcessHandle.current().pid());
            Files.createDirectories(staging);
            try {
                Path layer = staging.resolve("layer.tar");
                HostCommand.check(List.of("tar", "--numeric-owner", "-C", rootDir.toString(), "-cf", layer.toString(), "."),
                        Duration.ofMinutes(10));
                String diffId = "sha256:" + sha256(layer);
                String config = IMAGE_JSON.writeValueAsString(Map.of("architecture", "amd64", "os", "linux",
                        "config", Map.of("Labels", Map.of(LABEL_ROOTFS, rootDir.toAbsolutePath().normalize().toString())),
                        "rootfs", Map.of("type", "layers", "diff_ids", List.of(diffId))));
                String configName = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                        .digest(config.getBytes(StandardCharsets.UTF_8))) + ".json";
                Files.writeString(staging.resolve(configName), config);
                Files.writeString(staging.resolve("manifest.json"), "[{\"Config\":\"" + configName
                        + "\",\"RepoTags\":[\"" + ref + "\"],\"Layers\":[\"layer.tar\"]}]");
                Path archive = staging.resolve("image.tar");
                HostCommand.check(List.of("tar", "-C", staging.toString(), "-cf", archive.toString(),
                        "manifest.json", configName, "layer.tar"), Duration.ofMinutes(10));
                try (InputStream in = Files.newInputStream(archive)) {
                    streams().loadImageCmd(in).exec();
                } catch (RuntimeException e) {
                    throw new IOException("cannot load " + rootDir + " into Docker: " + rootMessage(e), e);
                }
                control().inspectImageCmd(ref).exec();
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            } catch (NotFoundException e) {
                throw new IOException("Docker loaded " + rootDir + " but has no image " + ref, e);
            } finally {
                deleteTreeQuietly(staging);
            }
            recordImage(tag, rootDir);
            log.info("imported {} into Docker as {}", rootDir, ref);
            return ref;
        }
    }

    private static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[1 << 16];
            int n;
            while ((n = in.read(buffer)) > 0) {
                sha.update(buffer, 0, n);
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void deleteTreeQuietly(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            log.warn("cannot remove {}: {}", dir, e.getMessage());
        }
    }

    private static final JsonMapper IMAGE_JSON = JsonMapper.builder().build();

    static String tagFor(Path rootDir) {
        try {
            byte[] hash = MessageDigest.getInstance("SHA-256").digest(
                    rootDir.toAbsolutePath().normalize().toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(hash).substring(0, 32);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private void recordImage(String tag, Path rootDir) throws IOException {
        Path index = workDir.resolve("images");
        Files.createDirectories(index);
        Files.writeString(index.resolve(tag), rootDir.toAbsolutePath().normalize().toString());
    }

    /**
     * Removes our daemon images whose root directory is gone, whichever data directory made them (a removed
     * catalog image, a deleted data directory); returns their refs. An image a container still uses stays.
     */
    public List<String> pruneImages() {
        List<String> removed = new ArrayList<>();
        List<Image> ours;
        try {
            ours = control().listImagesCmd().withLabelFilter(LABEL_ROOTFS).exec();
        } catch (RuntimeException e) {
            log.debug("image pruning: {}", rootMessage(e));
            return removed;
        }
        for (Image image : ours) {
            String root = image.getLabels() == null ? null : image.getLabels().get(LABEL_ROOTFS);
            // "Gone" as this process sees the file system: a server in another mount namespace sharing the
            // daemon would see other roots (a known limit, docker.md).
            try {
                if (root == null || Files.isDirectory(Path.of(root)) || image.getRepoTags() == null) {
                    continue;
                }
            } catch (RuntimeException notAPath) {
                continue;
            }
            for (String ref : image.getRepoTags()) {
                if (ref.startsWith(IMAGE_REPOSITORY + ":") && removeImage(ref.substring(IMAGE_REPOSITORY.length() + 1))) {
                    removed.add(ref);
                }
            }
        }
        return removed;
    }

    /** Removes every daemon image this data directory made (tests; uninstall); returns their refs. */
    public List<String> removeAllImages() {
        List<String> removed = new ArrayList<>();
        Path index = workDir.resolve("images");
        if (!Files.isDirectory(index)) {
            return removed;
        }
        try (Stream<Path> entries = Files.list(index)) {
            for (Path entry : entries.toList()) {
                if (removeImage(entry.getFileName().toString())) {
                    removed.add(IMAGE_REPOSITORY + ":" + entry.getFileName());
                }
            }
        } catch (IOException e) {
            log.warn("cannot list {}: {}", index, e.getMessage());
        }
        return removed;
    }

    /** Removes {@code mcp-sandbox-rootfs:<tag>} and its entry in this data directory's index; false if it stays. */
    private boolean removeImage(String tag) {
        synchronized (imageLocks.computeIfAbsent(tag, t -> new Object())) {
            try {
                control().removeImageCmd(IMAGE_REPOSITORY + ":" + tag).exec();
            } catch (NotFoundException alreadyGone) {
                // nothing to remove
            } catch (RuntimeException e) {
                log.warn("cannot remove image {}:{}: {}", IMAGE_REPOSITORY, tag, rootMessage(e));
                return false;
            }
            try {
                Files.deleteIfExists(workDir.resolve("images").resolve(tag));
            } catch (IOException e) {
                log.warn("cannot remove the index entry of image {}: {}", tag, e.getMessage());
            }
            return true;
        }
    }

    /** Names of every container that carries our labels, on this daemon (whoever owns it). */
    public List<String> listContainers() throws IOException {
        try {
            return control().listContainersCmd().withShowAll(true).withLabelFilter(List.of(LABEL_EXECUTION)).exec()
                    .stream().map(DockerEngine::containerName).toList();
        } catch (RuntimeException e) {
            throw new IOException("cannot list containers: " + rootMessage(e), e);
        }
    }

    /**
     * Removes containers whose owner process is dead (a crashed server or CLI), with their workspace mounts,
     * directories and cgroups, and images whose root filesystem is gone. Containers of live processes,
     * this one included, are left alone. Returns the names of the removed containers.
     */
    public List<String> reapLeftovers() {
        List<String> reaped = new ArrayList<>();
        List<Container> ours;
        try {
            ours = control().listContainersCmd().withShowAll(true).withLabelFilter(List.of(LABEL_EXECUTION)).exec();
        } catch (RuntimeException e) {
            log.debug("docker reaper: {}", rootMessage(e));
            return reaped;
        }
        for (Container c : ours) {
            Map<String, String> labels = c.getLabels() == null ? Map.of() : c.getLabels();
            Optional<OwnerId> by = OwnerId.parse(labels.get(LABEL_OWNER));
            if (by.isPresent() && by.get().alive()) {
                continue;
            }
            String name = containerName(c);
            try {
                control().removeContainerCmd(c.getId()).withForce(true).withRemoveVolumes(true).exec();
            } catch (NotFoundException gone) {
                // removed meanwhile
            } catch (RuntimeException e) {
                log.warn("leftover container {} not removed: {}", name, rootMessage(e));
                continue;
            }
            killStrays(c.getId());
            Path dir = Optional.ofNullable(labels.get(LABEL_SANDBOX_DIR)).map(Path::of).orElse(null);
            if (dir != null && dir.getFileName().toString().equals(name) && name.startsWith(SandboxSpec.NAME_PREFIX)) {
                removeSandboxDir(dir);
            }
            removeCgroup(name);
            reaped.add(name);
        }
        // Directories of sandboxes whose container never got created, or was removed before the crash.
        Path sandboxes = workDir.resolve("sandboxes");
        if (Files.isDirectory(sandboxes)) {
            try (Stream<Path> dirs = Files.list(sandboxes)) {
                for (Path dir : dirs.toList()) {
                    Optional<OwnerId> by = readOwner(dir);
                    if (by.isPresent() && by.get().alive()) {
                        continue;
                    }
                    if (by.isEmpty() && Files.getLastModifiedTime(dir).toMillis() > System.currentTimeMillis() - 30_000) {
                        continue; // being created right now
                    }
                    removeSandboxDir(dir);
                    removeCgroup(dir.getFileName().toString());
                    if (!reaped.contains(dir.getFileName().toString())) {
                        reaped.add(dir.getFileName().toString());
                    }
                }
            } catch (IOException e) {
                log.warn("cannot list {}: {}", sandboxes, e.getMessage());
            }
        }
        pruneImages();
        if (!reaped.isEmpty()) {
            log.warn("removed {} Docker sandbox(es) left by a dead process: {}", reaped.size(), reaped);
        }
        return reaped;
    }

    /** Whether the Docker sandbox of this name belongs to a live process (its directory names the owner). */
    public boolean ownedByLiveProcess(String name) {
        Path dir = sandboxDir(name);
        return Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS) && readOwner(dir).map(OwnerId::alive).orElse(true);
    }

    /**
     * A cheap look for leftovers without asking the daemon: a sandbox directory of a dead owner. A container
     * whose directory is gone is found only by {@link #reapLeftovers()}.
     */
    public boolean hasLeftovers() {
        Path sandboxes = workDir.resolve("sandboxes");
        if (!Files.isDirectory(sandboxes)) {
            return false;
        }
        try (Stream<Path> dirs = Files.list(sandboxes)) {
            return dirs.anyMatch(dir -> readOwner(dir).map(o -> !o.alive()).orElse(false));
        } catch (IOException e) {
            return true;
        }
    }

    void writeOwner(Path sandboxDir) throws IOException {
        Files.writeString(sandboxDir.resolve("owner"), owner.label());
    }

    private static Optional<OwnerId> readOwner(Path sandboxDir) {
        try {
            return OwnerId.parse(Files.readString(sandboxDir.resolve("owner")).strip());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    static void removeSandboxDir(Path dir) {
        boolean stillMounted = false;
        for (String tmpfs : List.of("workspace", "output")) {
            WorkspaceTmpfs.unmount(dir.resolve(tmpfs));
            try {
                if (WorkspaceTmpfs.isMountPoint(dir.resolve(tmpfs))) {
                    log.warn("{} is still mounted; left in place", dir.resolve(tmpfs));
                    stillMounted = true;
                }
            } catch (IOException ignored) {
                // try to delete anyway
            }
        }
        if (stillMounted) {
            return;
        }
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            log.warn("cannot remove {}: {}", dir, e.getMessage());
        }
    }

    /** Removes our cgroup parent of a sandbox (Docker removes the container's own cgroup below it). */
    void removeCgroup(String name) {
        for (Path dir : cgroups.directories(CGROUP_PARENT + "/" + name)) {
            if (!Files.isDirectory(dir)) {
                continue;
            }
            try (Stream<Path> children = Files.list(dir)) {
                for (Path child : children.filter(Files::isDirectory).toList()) {
                    Files.deleteIfExists(child); // an empty container cgroup a failed runtime left
                }
            } catch (IOException e) {
                log.debug("cgroup {}: {}", dir, e.getMessage());
            }
            try {
                Files.deleteIfExists(dir);
            } catch (IOException e) {
                log.warn("cannot remove cgroup {}: {}", dir, e.getMessage());
            }
        }
    }

    /**
     * Kills host processes of a removed container that the daemon no longer tracks: a failed
     * {@code --runtime runsc} start has left its shim and sentry behind, invisible to {@code docker ps}.
     * Matched by the 64-hex container id on their command line, which nothing else carries.
     */
    static void killStrays(String containerId) {
        if (containerId == null || !containerId.matches("[0-9a-f]{64}")) {
            return;
        }
        for (int attempt = 0; attempt < 20; attempt++) {
            List<ProcessHandle> strays = ProcessHandle.allProcesses()
                    .filter(p -> p.pid() != ProcessHandle.current().pid())
                    .filter(p -> cmdline(p.pid()).contains(containerId)).toList();
            if (strays.isEmpty()) {
                return;
            }
            strays.forEach(ProcessHandle::destroyForcibly);
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        log.warn("processes of container {} survived SIGKILL", containerId);
    }

    private static String cmdline(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    static String containerName(Container c) {
        String[] names = c.getNames();
        if (names == null || names.length == 0) {
            return c.getId();
        }
        return names[0].startsWith("/") ? names[0].substring(1) : names[0];
    }

    static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        String m = e instanceof DockerException ? e.getMessage() : t.getMessage();
        return (m == null ? t.getClass().getSimpleName() : m).strip();
    }

    @Override
    public void close() {
        for (DockerClient c : new DockerClient[] {control, streams}) {
            if (c != null) {
                try {
                    c.close();
                } catch (IOException ignored) {
                    // closing
                }
            }
        }
    }
}
