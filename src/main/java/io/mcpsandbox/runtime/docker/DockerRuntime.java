package io.mcpsandbox.runtime.docker;

import com.github.dockerjava.api.model.Info;
import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.runtime.LeftoverReaper;
import io.mcpsandbox.runtime.PreparedSandbox;
import io.mcpsandbox.runtime.SandboxException;
import io.mcpsandbox.runtime.SandboxRuntime;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.UidRangeAllocator;
import java.io.IOException;
import java.nio.file.Files;
import java.util.List;

/**
 * The Docker Engine backend (see docs/docker.md). Two runtimes share one {@link DockerEngine}:
 * {@code docker} runs containers with the daemon's default runtime (runc: levels low and medium), and
 * {@code docker-runsc} with {@code --runtime runsc} (gVisor: up to high) where the daemon has runsc registered.
 */
public final class DockerRuntime implements SandboxRuntime {
    public enum Kind {
        RUNC("docker", null, List.of(SecurityLevel.LOW, SecurityLevel.MEDIUM)),
        RUNSC("docker-runsc", "runsc", List.of(SecurityLevel.LOW, SecurityLevel.MEDIUM, SecurityLevel.HIGH));

        private final String runtimeName;
        private final String daemonRuntime;
        private final List<SecurityLevel> levels;

        Kind(String runtimeName, String daemonRuntime, List<SecurityLevel> levels) {
            this.runtimeName = runtimeName;
            this.daemonRuntime = daemonRuntime;
            this.levels = levels;
        }

        public String runtimeName() {
            return runtimeName;
        }

        /** The daemon's runtime ({@code HostConfig.Runtime}); null for its default. */
        String daemonRuntime() {
            return daemonRuntime;
        }

        boolean gvisor() {
            return this == RUNSC;
        }
    }

    private final DockerEngine engine;
    private final Kind kind;
    private final UidRangeAllocator uids;

    /** @param uids the host uid ranges shared with the OCI backend: each sandbox runs as a uid of its own */
    public DockerRuntime(DockerEngine engine, Kind kind, UidRangeAllocator uids) {
        this.engine = engine;
        this.kind = kind;
        this.uids = uids;
    }

    public DockerEngine engine() {
        return engine;
    }

    @Override
    public String name() {
        return kind.runtimeName();
    }

    @Override
    public List<SecurityLevel> levels() {
        return kind.levels;
    }

    @Override
    public RuntimeInfo probe() {
        if (uids.conflict().isPresent()) {
            return RuntimeInfo.unusable(name(), null, uids.conflict().get(), levels());
        }
        if (!Files.isExecutable(engine.agent())) {
            return RuntimeInfo.unusable(name(), null, SandboxConfig.agentMissing(engine.agent()), levels());
        }
        Info info;
        try {
            info = engine.connection().info();
        } catch (IOException e) {
            return RuntimeInfo.unusable(name(), null, e.getMessage(), levels());
        }
        String version = "Docker " + info.getServerVersion();
        if (!engine.connection().host().startsWith("unix://")) {
            return RuntimeInfo.unusable(name(), version, "the daemon at " + engine.connection().host()
                    + " is not local: sandboxes bind host paths (workspace, host image), so only a unix socket works",
                    levels());
        }
        if (info.getSecurityOptions() != null
                && info.getSecurityOptions().stream().anyMatch(o -> o.contains("name=userns"))) {
            return RuntimeInfo.unusable(name(), version, "the daemon runs with userns-remap: the sandbox's uid "
                    + "would not be the owner of its workspace and output files on the host", levels());
        }
        if (kind.daemonRuntime() != null) {
            if (info.getRuntimes() == null || !info.getRuntimes().containsKey(kind.daemonRuntime())) {
                return RuntimeInfo.unusable(name(), version, "the Docker daemon has no '" + kind.daemonRuntime()
                        + "' runtime registered (add {\"runtimes\": {\"runsc\": {\"path\": \"/usr/bin/runsc\", "
                        + "\"runtimeArgs\": [\"--network=none\", \"--oci-seccomp\"]}}} to /etc/docker/daemon.json "
                        + "and restart dockerd)",
                        levels());
            }
            version = version + ", runsc";
        }
        return RuntimeInfo.usable(name(), version, levels());
    }

    @Override
    public PreparedSandbox prepare(SandboxSpec spec) throws SandboxException {
        return DockerSandbox.create(engine, kind, uids, spec);
    }

    @Override
    public LeftoverReaper leftovers() {
        return engine.leftovers();
    }
}
