package io.mcpsandbox.runtime.docker;

import io.mcpsandbox.host.CgroupReader;
import io.mcpsandbox.runtime.SeccompProfile;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.Supplier;
import tools.jackson.databind.json.JsonMapper;

/**
 * One Docker daemon as seen by mcp-sandbox, shared by the {@code docker} and {@code docker-runsc} runtimes:
 * the connection ({@link DockerConnection}), the images made from our root filesystems ({@link DockerImages}),
 * the per-sandbox host traces ({@link DockerHostTraces}), the reaping of what a dead process left
 * ({@link DockerLeftoverReaper}), the labels that mark our containers and what every sandbox gets bound in.
 */
public final class DockerEngine implements AutoCloseable {
    public static final String LABEL_EXECUTION = "io.mcpsandbox.execution";
    public static final String LABEL_OWNER = "io.mcpsandbox.owner";
    public static final String LABEL_SANDBOX_DIR = "io.mcpsandbox.sandbox-dir";

    private final DockerConnection connection;
    private final DockerImages images;
    private final DockerHostTraces traces;
    private final DockerLeftoverReaper leftovers;
    private final Path agent;
    private final CgroupReader cgroups;
    /** The seccomp profile, read when the first container is made: a command that makes none never reads it. */
    private final Supplier<SeccompProfile> seccompSource;
    private volatile String[] seccompJson;
    private final OwnerId owner = OwnerId.self();

    /**
     * @param host      the daemon's address; only a local daemon works (the workspace and the host image are
     *                  bind-mounted host paths)
     * @param workDir   our per-sandbox host directories and image index (e.g. {@code <data dir>/docker})
     * @param agent     the in-sandbox agent, bound read-only at /.mcp-init as every sandbox's PID 1
     */
    public DockerEngine(String host, Path workDir, Path agent, SeccompProfile seccomp, CgroupReader cgroups) {
        this(host, workDir, agent, () -> seccomp, cgroups);
    }

    /** @param seccomp the seccomp profile, asked for once, when the first container is made */
    public DockerEngine(String host, Path workDir, Path agent, Supplier<SeccompProfile> seccomp,
                        CgroupReader cgroups) {
        this.connection = new DockerConnection(host);
        this.images = new DockerImages(connection, workDir.resolve("images"));
        this.traces = new DockerHostTraces(workDir.resolve("sandboxes"), cgroups, owner);
        this.leftovers = new DockerLeftoverReaper(connection, traces, images);
        this.agent = agent;
        this.cgroups = cgroups;
        this.seccompSource = seccomp;
    }

    public DockerConnection connection() {
        return connection;
    }

    public DockerImages images() {
        return images;
    }

    public DockerLeftoverReaper leftovers() {
        return leftovers;
    }

    DockerHostTraces traces() {
        return traces;
    }

    Path agent() {
        return agent;
    }

    OwnerId owner() {
        return owner;
    }

    CgroupReader cgroups() {
        return cgroups;
    }

    String seccomp(boolean gvisor) {
        String[] both = seccompJson;
        if (both == null) {
            synchronized (this) {
                if (seccompJson == null) {
                    SeccompProfile profile = seccompSource.get();
                    JsonMapper json = JsonMapper.builder().build();
                    seccompJson = new String[] {json.writeValueAsString(profile.forKernel(false)),
                        json.writeValueAsString(profile.forKernel(true))};
                }
                both = seccompJson;
            }
        }
        return gvisor ? both[1] : both[0];
    }

    /** The cgroup parent for a sandbox, when the daemon's cgroupfs driver lets us read usage from it. */
    Optional<String> cgroupParent(String name) {
        return connection.cgroupDriver().filter("cgroupfs"::equals)
                .map(driver -> DockerHostTraces.CGROUP_PARENT + "/" + name);
    }

    @Override
    public void close() {
        connection.close();
    }
}
