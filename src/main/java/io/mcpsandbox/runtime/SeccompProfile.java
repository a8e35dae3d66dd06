package io.mcpsandbox.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.json.JsonMapper;

/**
 * The default-deny seccomp allowlist shipped in resources (see docs/seccomp.md), in OCI spec form: one policy
 * for every backend (the OCI bundles and the Docker containers).
 */
public final class SeccompProfile {
    static final String RESOURCE = "seccomp-default.json";

    private final Map<String, Object> profile;

    private SeccompProfile(Map<String, Object> profile) {
        this.profile = profile;
    }

    @SuppressWarnings("unchecked")
    public static SeccompProfile loadDefault(JsonMapper json) {
        try (InputStream in = SeccompProfile.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("seccomp profile resource " + RESOURCE + " is missing from the build");
            }
            return new SeccompProfile(json.readValue(in, LinkedHashMap.class));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read seccomp profile: " + e.getMessage(), e);
        }
    }

    /**
     * The profile in OCI form, as config.json (OCI backend) and Docker's {@code seccomp=} option take it.
     *
     * @param userSpaceKernel whether the sandbox's system calls reach a kernel of its own (gVisor), not the host's
     */
    @SuppressWarnings("unchecked")
    public Map<String, Object> forKernel(boolean userSpaceKernel) {
        if (!userSpaceKernel) {
            return profile;
        }
        // This runsc ignores errnoRet and answers EPERM, and glibc only falls back from clone3 to clone on
        // ENOSYS: threads would fail. Inside gVisor, clone3 reaches the sentry, not the host kernel.
        Map<String, Object> copy = new LinkedHashMap<>(profile);
        List<Map<String, Object>> rules = new ArrayList<>();
        for (Map<String, Object> rule : (List<Map<String, Object>>) profile.get("syscalls")) {
            if (((List<String>) rule.get("names")).contains("clone3")) {
                rule = new LinkedHashMap<>(rule);
                rule.put("action", "SCMP_ACT_ALLOW");
                rule.remove("errnoRet");
            }
            rules.add(rule);
        }
        copy.put("syscalls", rules);
        return copy;
    }
}
