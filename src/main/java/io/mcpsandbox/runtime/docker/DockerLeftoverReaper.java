package io.mcpsandbox.runtime.docker;

import com.github.dockerjava.api.exception.NotFoundException;
import com.github.dockerjava.api.model.Container;
import io.mcpsandbox.runtime.LeftoverReaper;
import io.mcpsandbox.runtime.SandboxSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Crash recovery of the Docker backend: removes the containers (found by our labels on the daemon) and the
 * sandbox directories (in this data directory) whose owner process is dead, with their mounts and cgroups,
 * then the images whose root filesystem is gone. Containers and directories of live processes, this one
 * included, are left alone.
 */
public final class DockerLeftoverReaper implements LeftoverReaper {
    private static final Logger log = LoggerFactory.getLogger(DockerLeftoverReaper.class);
    /** A sandbox directory with no owner file yet may belong to a process that is creating it. */
    private static final long YOUNG_MILLIS = 30_000;

    private final DockerConnection docker;
    private final DockerHostTraces traces;
    private final DockerImages images;

    DockerLeftoverReaper(DockerConnection docker, DockerHostTraces traces, DockerImages images) {
        this.docker = docker;
        this.traces = traces;
        this.images = images;
    }

    /** Names of every container that carries our labels, on this daemon (whoever owns it). */
    public List<String> listContainers() throws IOException {
        try {
            return ourContainers().stream().map(DockerLeftoverReaper::containerName).toList();
        } catch (RuntimeException e) {
            throw new IOException("cannot list containers: " + DockerConnection.rootMessage(e), e);
        }
    }

    private List<Container> ourContainers() {
        return docker.control().listContainersCmd().withShowAll(true)
                .withLabelFilter(List.of(DockerEngine.LABEL_EXECUTION)).exec();
    }

    /** Returns the names of the removed sandboxes. A daemon that does not answer leaves only directories to reap. */
    @Override
    public List<String> reapLeftovers() {
        List<String> reaped = new ArrayList<>();
        List<Container> ours;
        try {
            ours = ourContainers();
        } catch (RuntimeException e) {
            log.debug("docker reaper: {}", DockerConnection.rootMessage(e));
            return reaped;
        }
        for (Container c : ours) {
            Map<String, String> labels = c.getLabels() == null ? Map.of() : c.getLabels();
            Optional<OwnerId> by = OwnerId.parse(labels.get(DockerEngine.LABEL_OWNER));
            if (by.isPresent() && by.get().alive()) {
                continue;
            }
            String name = containerName(c);
            try {
                docker.control().removeContainerCmd(c.getId()).withForce(true).withRemoveVolumes(true).exec();
            } catch (NotFoundException gone) {
                // removed meanwhile
            } catch (RuntimeException e) {
                log.warn("leftover container {} not removed: {}", name, DockerConnection.rootMessage(e));
                continue;
            }
            DockerHostTraces.killStrays(c.getId());
            Path dir = Optional.ofNullable(labels.get(DockerEngine.LABEL_SANDBOX_DIR)).map(Path::of).orElse(null);
            if (dir != null && dir.getFileName().toString().equals(name) && name.startsWith(SandboxSpec.NAME_PREFIX)) {
                DockerHostTraces.removeSandboxDir(dir);
            }
            traces.removeCgroup(name);
            reaped.add(name);
        }
        // Directories of sandboxes whose container never got created, or was removed before the crash.
        Path sandboxes = traces.sandboxes();
        if (Files.isDirectory(sandboxes)) {
            try (Stream<Path> dirs = Files.list(sandboxes)) {
                for (Path dir : dirs.toList()) {
                    Optional<OwnerId> by = DockerHostTraces.readOwner(dir);
                    if (by.isPresent() && by.get().alive()) {
                        continue;
                    }
                    if (by.isEmpty()
                            && Files.getLastModifiedTime(dir).toMillis() > System.currentTimeMillis() - YOUNG_MILLIS) {
                        continue; // being created right now
                    }
                    DockerHostTraces.removeSandboxDir(dir);
                    traces.removeCgroup(dir.getFileName().toString());
                    if (!reaped.contains(dir.getFileName().toString())) {
                        reaped.add(dir.getFileName().toString());
                    }
                }
            } catch (IOException e) {
                log.warn("cannot list {}: {}", sandboxes, e.getMessage());
            }
        }
        images.prune();
        if (!reaped.isEmpty()) {
            log.warn("removed {} Docker sandbox(es) left by a dead process: {}", reaped.size(), reaped);
        }
        return reaped;
    }

    /** A sandbox directory of a dead owner. A container whose directory is gone is found only by reaping. */
    @Override
    public boolean hasLeftovers() {
        Path sandboxes = traces.sandboxes();
        if (!Files.isDirectory(sandboxes)) {
            return false;
        }
        try (Stream<Path> dirs = Files.list(sandboxes)) {
            return dirs.anyMatch(dir -> DockerHostTraces.readOwner(dir).map(o -> !o.alive()).orElse(false));
        } catch (IOException e) {
            return true;
        }
    }

    /** Whether the Docker sandbox of this name belongs to a live process (its directory names the owner). */
    @Override
    public boolean ownedByLiveProcess(String sandboxName) {
        Path dir = traces.sandboxDir(sandboxName);
        return Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)
                && DockerHostTraces.readOwner(dir).map(OwnerId::alive).orElse(true);
    }

    static String containerName(Container c) {
        String[] names = c.getNames();
        if (names == null || names.length == 0) {
            return c.getId();
        }
        return names[0].startsWith("/") ? names[0].substring(1) : names[0];
    }
}
