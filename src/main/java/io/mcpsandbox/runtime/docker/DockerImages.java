package io.mcpsandbox.runtime.docker;

import com.github.dockerjava.api.exception.NotFoundException;
import com.github.dockerjava.api.model.Image;
import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.host.HostCommand;
import io.mcpsandbox.host.Sha256;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.json.JsonMapper;

/**
 * The daemon images made from our root filesystems: loaded once per root directory, recorded in an index in
 * this data directory, and pruned when their root directory is gone.
 */
public final class DockerImages {
    private static final Logger log = LoggerFactory.getLogger(DockerImages.class);
    /** Repository of the images made from our root filesystems; the tag is a hash of the root's path. */
    public static final String REPOSITORY = "mcp-sandbox-rootfs";
    /** On our daemon images: the root directory an image was made from (gone = the image can go). */
    public static final String LABEL_ROOTFS = "io.mcpsandbox.rootfs";
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final DockerConnection docker;
    private final Path index;
    private final Map<String, Object> locks = new ConcurrentHashMap<>();

    /** @param index this data directory's record of the images it made, one file per tag naming its root */
    DockerImages(DockerConnection docker, Path index) {
        this.docker = docker;
        this.index = index;
    }

    /**
     * The daemon image made from {@code rootDir}, imported once (tar of the directory streamed to
     * {@code docker import}) and named by a hash of the directory's path: catalog roots are content-addressed,
     * so one path is one content.
     */
    String ensure(Path rootDir) throws IOException {
        String tag = tagFor(rootDir);
        String ref = REPOSITORY + ":" + tag;
        synchronized (locks.computeIfAbsent(tag, t -> new Object())) {
            try {
                docker.control().inspectImageCmd(ref).exec();
                record(tag, rootDir);
                return ref;
            } catch (NotFoundException missing) {
                // imported below
            }
            // A one-layer `docker save` archive, loaded with `docker load` (the Engine API's import endpoint
            // receives a short body from docker-java 3.7.1: "unexpected EOF").
            Path staging = index.resolve(".load-" + tag + "-" + ProcessHandle.current().pid());
            Files.createDirectories(staging);
            try {
                Path layer = staging.resolve("layer.tar");
                HostCommand.check(List.of("tar", "--numeric-owner", "-C", rootDir.toString(), "-cf",
                        layer.toString(), "."), Duration.ofMinutes(10));
                String diffId = "sha256:" + Sha256.hexOfFile(layer);
                String root = rootDir.toAbsolutePath().normalize().toString();
                String config = JSON.writeValueAsString(Map.of("architecture", "amd64", "os", "linux",
                        "config", Map.of("Labels", Map.of(LABEL_ROOTFS, root)),
                        "rootfs", Map.of("type", "layers", "diff_ids", List.of(diffId))));
                String configName = Sha256.hex(config) + ".json";
                Files.writeString(staging.resolve(configName), config);
                Files.writeString(staging.resolve("manifest.json"), "[{\"Config\":\"" + configName
                        + "\",\"RepoTags\":[\"" + ref + "\"],\"Layers\":[\"layer.tar\"]}]");
                Path archive = staging.resolve("image.tar");
                HostCommand.check(List.of("tar", "-C", staging.toString(), "-cf", archive.toString(),
                        "manifest.json", configName, "layer.tar"), Duration.ofMinutes(10));
                try (InputStream in = Files.newInputStream(archive)) {
                    docker.streams().loadImageCmd(in).exec();
                } catch (RuntimeException e) {
                    throw new IOException("cannot load " + rootDir + " into Docker: "
                            + DockerConnection.rootMessage(e), e);
                }
                docker.control().inspectImageCmd(ref).exec();
            } catch (NotFoundException e) {
                throw new IOException("Docker loaded " + rootDir + " but has no image " + ref, e);
            } finally {
                DeleteTree.deleteQuietly(staging);
            }
            record(tag, rootDir);
            log.info("imported {} into Docker as {}", rootDir, ref);
            return ref;
        }
    }

    static String tagFor(Path rootDir) {
        return Sha256.hex(rootDir.toAbsolutePath().normalize().toString()).substring(0, 32);
    }

    private void record(String tag, Path rootDir) throws IOException {
        Files.createDirectories(index);
        Files.writeString(index.resolve(tag), rootDir.toAbsolutePath().normalize().toString());
    }

    /**
     * Removes our daemon images whose root directory is gone, whichever data directory made them (a removed
     * catalog image, a deleted data directory); returns their refs. An image a container still uses stays.
     */
    public List<String> prune() {
        List<String> removed = new ArrayList<>();
        List<Image> ours;
        try {
            ours = docker.control().listImagesCmd().withLabelFilter(LABEL_ROOTFS).exec();
        } catch (RuntimeException e) {
            log.debug("image pruning: {}", DockerConnection.rootMessage(e));
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
                if (ref.startsWith(REPOSITORY + ":") && remove(ref.substring(REPOSITORY.length() + 1))) {
                    removed.add(ref);
                }
            }
        }
        return removed;
    }

    /** Removes every daemon image this data directory made (tests; uninstall); returns their refs. */
    public List<String> removeAll() {
        List<String> removed = new ArrayList<>();
        if (!Files.isDirectory(index)) {
            return removed;
        }
        try (Stream<Path> entries = Files.list(index)) {
            for (Path entry : entries.filter(Files::isRegularFile).toList()) {
                if (remove(entry.getFileName().toString())) {
                    removed.add(REPOSITORY + ":" + entry.getFileName());
                }
            }
        } catch (IOException e) {
            log.warn("cannot list {}: {}", index, e.getMessage());
        }
        return removed;
    }

    /** Removes {@code mcp-sandbox-rootfs:<tag>} and its entry in this data directory's index; false if it stays. */
    private boolean remove(String tag) {
        synchronized (locks.computeIfAbsent(tag, t -> new Object())) {
            try {
                docker.control().removeImageCmd(REPOSITORY + ":" + tag).exec();
            } catch (NotFoundException alreadyGone) {
                // nothing to remove
            } catch (RuntimeException e) {
                log.warn("cannot remove image {}:{}: {}", REPOSITORY, tag, DockerConnection.rootMessage(e));
                return false;
            }
            try {
                Files.deleteIfExists(index.resolve(tag));
            } catch (IOException e) {
                log.warn("cannot remove the index entry of image {}: {}", tag, e.getMessage());
            }
            return true;
        }
    }
}
