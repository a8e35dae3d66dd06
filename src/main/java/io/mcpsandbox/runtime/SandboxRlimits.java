package io.mcpsandbox.runtime;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** The rlimits every backend sets to the same fixed value (the OCI bundle's rlimits, Docker's ulimits). */
public final class SandboxRlimits {
    /**
     * By Docker ulimit name: no real-time priority, no raising of the nice value, no core files, and small
     * locked-memory, POSIX message-queue and queued-signal budgets (the last two are charged per user up the
     * user-namespace chain, i.e. to the host).
     */
    public static final Map<String, Long> FIXED = fixed();

    private SandboxRlimits() {
    }

    private static Map<String, Long> fixed() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("core", 0L);
        m.put("rtprio", 0L);
        m.put("nice", 0L);
        m.put("memlock", 64L * 1024);
        m.put("msgqueue", 64L * 1024);
        m.put("sigpending", 1024L);
        return Collections.unmodifiableMap(m);
    }
}
