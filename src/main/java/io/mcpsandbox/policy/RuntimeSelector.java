package io.mcpsandbox.policy;

import io.mcpsandbox.config.RuntimeSettings;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.runtime.RuntimeRegistry;
import io.mcpsandbox.runtime.SandboxRuntime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/**
 * Chooses the runtime for a plan. An explicit runtime wins over the level, within the server's settings: it
 * must be in {@code runtimes.allowed} and provide {@code security.minimum-level}. A level is never silently
 * downgraded: when nothing strong enough is usable, the request is refused with what is missing.
 */
public final class RuntimeSelector {
    /** A microVM backend of our own; named so that a refusal says it is missing. */
    public static final String QEMU_MICROVM = "microvm";

    private final RuntimeRegistry registry;
    private final String standardRuntime;
    private final RuntimeSettings settings;

    public RuntimeSelector(RuntimeRegistry registry, String standardRuntime) {
        this(registry, standardRuntime, RuntimeSettings.DEFAULT);
    }

    public RuntimeSelector(RuntimeRegistry registry, String standardRuntime, RuntimeSettings settings) {
        this.registry = registry;
        this.standardRuntime = standardRuntime;
        this.settings = settings;
    }

    public RuntimeSettings settings() {
        return settings;
    }

    /** Why the settings exclude a runtime of this build, if they do (for `runtimes` and the refusals). */
    public Optional<String> exclusion(SandboxRuntime runtime) {
        return settings.exclusion(runtime.name(), strongest(runtime));
    }

    public SandboxRuntime select(ExecutionPlan plan) throws PolicyViolation {
        SecurityLevel minimum = settings.minimumLevel();
        if (plan.securityLevel().compareTo(minimum) < 0) {
            // The validator raises a level the request left out; one it asked for is refused, not raised.
            throw new PolicyViolation("securityLevel", "'" + plan.securityLevel().wireName() + "' is below this "
                    + "server's minimum level '" + minimum.wireName() + "' (" + RuntimeSettings.KEY_MINIMUM_LEVEL
                    + ")");
        }
        if (plan.runtime() != null) {
            SandboxRuntime runtime = registry.find(plan.runtime()).orElseThrow(() -> new PolicyViolation("runtime",
                    "'" + plan.runtime() + "' is not a known runtime (known: " + known() + ")"));
            if (!settings.allows(runtime.name())) {
                throw new PolicyViolation("runtime", "'" + runtime.name() + "' is not allowed on this server ("
                        + RuntimeSettings.KEY_ALLOWED + ": " + String.join(", ", settings.allowed()) + ")");
            }
            if (strongest(runtime).compareTo(minimum) < 0) {
                throw new PolicyViolation("runtime", "'" + runtime.name() + "' isolates at most at the '"
                        + strongest(runtime).wireName() + "' level, below this server's minimum '" + minimum.wireName()
                        + "' (" + RuntimeSettings.KEY_MINIMUM_LEVEL + ")");
            }
            RuntimeInfo info = registry.info(runtime);
            if (!info.usable()) {
                throw new PolicyViolation("runtime", "'" + runtime.name() + "' is not usable here: " + info.reason());
            }
            if (plan.levelExplicit() && !runtime.levels().contains(plan.securityLevel())) {
                throw new PolicyViolation("securityLevel", "runtime " + runtime.name() + " does not provide the '"
                        + plan.securityLevel().wireName() + "' level (it provides " + levels(runtime) + ")");
            }
            return runtime;
        }
        List<String> missing = new ArrayList<>();
        for (String name : candidates(plan.securityLevel())) {
            Optional<SandboxRuntime> runtime = registry.find(name);
            if (runtime.isEmpty()) {
                missing.add(name + ": not available in this build");
                continue;
            }
            if (!settings.allows(name)) {
                missing.add(name + ": not in " + RuntimeSettings.KEY_ALLOWED);
                continue;
            }
            RuntimeInfo info = registry.info(runtime.get());
            if (info.usable()) {
                return runtime.get();
            }
            missing.add(name + ": " + info.reason());
        }
        throw new PolicyViolation("securityLevel", "no runtime for the '" + plan.securityLevel().wireName()
                + "' level is usable here (" + String.join("; ", missing) + ")");
    }

    private List<String> candidates(SecurityLevel level) {
        return switch (level) {
            case LOW, MEDIUM -> List.of(standardRuntime);
            case HIGH -> List.of("runsc", "docker-runsc");
            case CRITICAL -> List.of(QEMU_MICROVM, "kata-runtime");
        };
    }

    private static SecurityLevel strongest(SandboxRuntime runtime) {
        return runtime.levels().isEmpty() ? SecurityLevel.LOW : Collections.max(runtime.levels());
    }

    private String known() {
        return String.join(", ", registry.all().stream().map(SandboxRuntime::name).toList());
    }

    private static String levels(SandboxRuntime runtime) {
        return String.join(", ", runtime.levels().stream().map(SecurityLevel::wireName).toList());
    }
}
