package io.mcpsandbox.runtime;

import io.mcpsandbox.model.RuntimeInfo;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;

/** Every runtime this build knows, with what is known about its usability here (probed once, then cached). */
public final class RuntimeRegistry {
    /** Configuration key: refuse runtimes whose version is on the table of known vulnerabilities. */
    public static final String REFUSE_VULNERABLE_KEY = "runtimes.refuse-vulnerable";
    /** How the reason of a runtime refused for its version begins. */
    public static final String REFUSED_FOR_VERSION = "its version is known to be vulnerable";

    private final List<SandboxRuntime> runtimes;
    private final UnaryOperator<RuntimeInfo> versionCheck;
    private final boolean refuseVulnerable;
    private final Map<String, RuntimeInfo> infos = new ConcurrentHashMap<>();

    public RuntimeRegistry(List<SandboxRuntime> runtimes) {
        this(runtimes, UnaryOperator.identity(), false);
    }

    /**
     * @param versionCheck     adds the known advisories of a probed runtime's version
     * @param refuseVulnerable whether a runtime with a blocking advisory is marked unusable (requests that choose
     *                         it, or a level only it serves, are then rejected with the reason)
     */
    public RuntimeRegistry(List<SandboxRuntime> runtimes, UnaryOperator<RuntimeInfo> versionCheck,
                           boolean refuseVulnerable) {
        this.runtimes = List.copyOf(runtimes);
        this.versionCheck = versionCheck;
        this.refuseVulnerable = refuseVulnerable;
    }

    public List<SandboxRuntime> all() {
        return runtimes;
    }

    public Optional<SandboxRuntime> find(String name) {
        return runtimes.stream().filter(r -> r.name().equals(name)).findFirst();
    }

    /**
     * The crash recovery of every backend, each once (runtimes of one backend share a reaper), in the order of
     * the runtimes.
     */
    public List<LeftoverReaper> leftoverReapers() {
        List<LeftoverReaper> reapers = new ArrayList<>();
        for (SandboxRuntime runtime : runtimes) {
            LeftoverReaper reaper = runtime.leftovers();
            if (reapers.stream().noneMatch(r -> r == reaper)) {
                reapers.add(reaper);
            }
        }
        return reapers;
    }

    public boolean refuseVulnerable() {
        return refuseVulnerable;
    }

    /** The cached probe of one runtime, probing it on first use. */
    public RuntimeInfo info(SandboxRuntime runtime) {
        return infos.computeIfAbsent(runtime.name(), n -> probe(runtime));
    }

    /** Probes a runtime now, with its version checked (and refused when so configured); caches nothing. */
    public RuntimeInfo probe(SandboxRuntime runtime) {
        RuntimeInfo info = versionCheck.apply(runtime.probe());
        if (refuseVulnerable && info.usable() && info.knownVulnerable()) {
            return info.refused(REFUSED_FOR_VERSION + " (" + info.blockingIds() + ") and "
                    + REFUSE_VULNERABLE_KEY + " is on: upgrade it (see 'mcp-sandbox runtimes')");
        }
        return info;
    }

    /** Whether this info is a runtime that works here but was refused for its version. */
    public static boolean refusedForVersion(RuntimeInfo info) {
        return !info.usable() && info.reason() != null && info.reason().startsWith(REFUSED_FOR_VERSION);
    }

    /** Replaces what is known of a runtime (after a smoke run showed more than its version did). */
    public void update(RuntimeInfo info) {
        infos.put(info.name(), info);
    }
}
