package io.mcpsandbox.runtime.docker;

import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.runtime.HostCommand;
import io.mcpsandbox.runtime.PreparedSandbox;
import io.mcpsandbox.runtime.SandboxException;
import io.mcpsandbox.runtime.SandboxRuntime;
import io.mcpsandbox.runtime.SandboxSpec;
import java.io.IOException;
import java.time.Duration;
import java.util.List;

/**
 * The Docker Engine backend. This build only detects the daemon: running sandboxes through it is not
 * implemented yet, so it always reports itself unusable and says why.
 */
public final class DockerRuntime implements SandboxRuntime {
    private static final String NOT_BUILT = "the Docker backend is not implemented in this build";

    @Override
    public String name() {
        return "docker";
    }

    @Override
    public List<SecurityLevel> levels() {
        return List.of(SecurityLevel.LOW, SecurityLevel.MEDIUM, SecurityLevel.HIGH);
    }

    @Override
    public RuntimeInfo probe() {
        try {
            HostCommand.Result r = HostCommand.run(
                    List.of("docker", "version", "--format", "{{.Server.Version}}"), Duration.ofSeconds(10));
            if (!r.ok()) {
                return RuntimeInfo.unusable(name(), null, "the Docker daemon does not answer: " + r.message(), levels());
            }
            return RuntimeInfo.unusable(name(), r.stdout().strip(), NOT_BUILT + " (daemon answers)", levels());
        } catch (IOException e) {
            return RuntimeInfo.unusable(name(), null, "docker CLI not available: " + e.getMessage(), levels());
        }
    }

    @Override
    public PreparedSandbox prepare(SandboxSpec spec) throws SandboxException {
        throw new SandboxException(NOT_BUILT);
    }
}
