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
 * @param sandboxInit      static init binary run as PID 1 in every sandbox (tini-static)
 * @param dlpMode          what the output scanner does by default (report, redact, block)
 * @param settings         every key as configured, for components that read their own (stores, server)
 */
public record SandboxConfig(Path dataDir, Path stateDir, ResourceLimits defaultLimits, ResourceLimits maxLimits,
                            String standardRuntime, Map<String, LanguageSpec> languages, String defaultImage,
                            long sandboxUidBase, int sandboxUidSlots, Path sandboxInit,
                            io.mcpsandbox.model.DlpMode dlpMode, Settings settings) {

    public SandboxConfig {
        languages = Map.copyOf(languages);
    }

    public Path bundlesDir() {
        return dataDir.resolve("bundles");
    }

    public Path imagesDir() {
        return dataDir.resolve("images");
    }
}
