package io.mcpsandbox.config;

import io.mcpsandbox.model.ResourceLimits;
import java.nio.file.Path;
import java.util.Map;

/**
 * Everything the service is configured with. Built by {@link ConfigLoader}; passed by constructor.
 *
 * @param dataDir          images, bundles, records (default /var/lib/mcp-sandbox)
 * @param stateDir         runtime state roots (runc --root and the like); on tmpfs so a reboot clears it
 * @param defaultLimits    what a request gets for each limit it leaves out
 * @param maxLimits        the most a request may ask for; beyond it the request is rejected
 * @param standardRuntime  the runtime for the low and medium levels ("runc" or "docker")
 * @param sandboxUidBase   first host uid of the ranges that sandbox user namespaces map to
 * @param sandboxAgent     the in-sandbox agent (static binary) bound read-only into every sandbox as its PID 1
 * @param dlpMode          what the output scanner does by default (report, redact, block)
 * @param settings         every key as configured, for components that read their own (stores, server)
 */
public record SandboxConfig(Path dataDir, Path stateDir, ResourceLimits defaultLimits, ResourceLimits maxLimits,
                            String standardRuntime, Map<String, LanguageSpec> languages, String defaultImage,
                            long sandboxUidBase, int sandboxUidSlots, Path sandboxAgent,
                            io.mcpsandbox.model.DlpMode dlpMode, Settings settings) {

    public SandboxConfig {
        languages = Map.copyOf(languages);
    }

    /** Where bin/setup installs the agent it builds from agent/ (root's, read-only for everyone else). */
    public static final String DEFAULT_AGENT = "/usr/local/libexec/mcp-sandbox/mcp-agent";

    /** Why a runtime is unusable when the agent binary is not there. */
    public static String agentMissing(Path agent) {
        return "the in-sandbox agent " + agent + " is missing (bin/setup builds it from agent/ and installs it; "
                + "setting sandbox.agent): it runs as PID 1 in every sandbox";
    }

    public Path bundlesDir() {
        return dataDir.resolve("bundles");
    }

    public Path imagesDir() {
        return dataDir.resolve("images");
    }
}
