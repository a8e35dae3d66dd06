package io.mcpsandbox.runtime;

import io.mcpsandbox.model.RuntimeInfo;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** Every runtime this build knows, with what is known about its usability here (probed once, then cached). */
public final class RuntimeRegistry {
    private final List<SandboxRuntime> runtimes;
    private final Map<String, RuntimeInfo> infos = new ConcurrentHashMap<>();

    public RuntimeRegistry(List<SandboxRuntime> runtimes) {
        this.runtimes = List.copyOf(runtimes);
    }

    public List<SandboxRuntime> all() {
        return runtimes;
    }

    public Optional<SandboxRuntime> find(String name) {
        return runtimes.stream().filter(r -> r.name().equals(name)).findFirst();
    }

    /** The cached probe of one runtime, probing it on first use. */
    public RuntimeInfo info(SandboxRuntime runtime) {
        return infos.computeIfAbsent(runtime.name(), n -> runtime.probe());
    }

    /** Replaces what is known of a runtime (after a smoke run showed more than its version did). */
    public void update(RuntimeInfo info) {
        infos.put(info.name(), info);
    }
}
