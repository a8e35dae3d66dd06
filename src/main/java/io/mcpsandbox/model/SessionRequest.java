package io.mcpsandbox.model;

import java.util.List;
import java.util.Map;

/**
 * A request to open a session (REST {@code POST /v1/sessions}, MCP {@code create_session}, CLI
 * {@code sessions create}). Every field may be null (the server's defaults).
 *
 * @param limits             the sandbox's limits (memory, CPUs, pids) and the per-execution defaults (timeout,
 *                           output)
 * @param env                variables every execution in the session gets (an execution's own add to them)
 * @param files              text files placed in /workspace before the session opens, by relative path
 * @param rootfs             {@code read-only} (the default) or {@code writable}
 * @param idleTimeoutSeconds closed after this long without an execution (0: never idle-closed)
 * @param lifetimeSeconds    closed at the latest this long after it opened
 * @param network            egress through the policy point for the session's sandbox (docs/network.md)
 * @param networkAllow       with {@code network}: the names it needs, within the server's list; empty for all
 */
public record SessionRequest(String image, String runtime, SecurityLevel securityLevel, LimitsRequest limits,
                             Map<String, String> env, Map<String, String> files, String rootfs,
                             Long idleTimeoutSeconds, Long lifetimeSeconds, String userId,
                             boolean network, List<String> networkAllow) {
    public SessionRequest {
        limits = limits == null ? LimitsRequest.DEFAULTS : limits;
        env = env == null ? Map.of() : Map.copyOf(env);
        files = files == null ? Map.of() : Map.copyOf(files);
        networkAllow = networkAllow == null ? List.of() : List.copyOf(networkAllow);
    }

    /** A request without network (the default). */
    public SessionRequest(String image, String runtime, SecurityLevel securityLevel, LimitsRequest limits,
                          Map<String, String> env, Map<String, String> files, String rootfs,
                          Long idleTimeoutSeconds, Long lifetimeSeconds, String userId) {
        this(image, runtime, securityLevel, limits, env, files, rootfs, idleTimeoutSeconds, lifetimeSeconds, userId,
                false, List.of());
    }

    /** The same request on behalf of {@code user} (the API key's owner). */
    public SessionRequest withUser(String user) {
        return new SessionRequest(image, runtime, securityLevel, limits, env, files, rootfs, idleTimeoutSeconds,
                lifetimeSeconds, user,
                network, networkAllow);
    }
}
