package io.mcpsandbox.model;

import com.fasterxml.jackson.annotation.JsonIgnore;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One request to run something: either a command ({@code command}) or a snippet ({@code language} and
 * {@code code}). Null fields mean "the default"; policy resolves and validates them.
 *
 * @param files     extra files placed in /workspace, by relative path
 * @param runtime   an explicit runtime name; wins over {@code securityLevel}
 * @param dlpMode   what the output scanner does with findings; null for the configured mode
 * @param background     answer at once with the execution's id; it runs on (its output stays readable)
 * @param keepStdinOpen  the program's stdin stays open after {@code stdin} until closed through the API
 * @param persistent     run the snippet in the session's persistent interpreter (python, node)
 * @param returnImages   give back the images a snippet wrote (MCP execute_code); not a field of the API's body
 * @param priority       a queued request's rank within its user's own queue: higher runs first (default 0)
 * @param callbackUrl    where the final result is POSTed (signed) when the execution ends; null for none
 * @param network        asks for egress through the policy point (docs/network.md)
 * @param networkAllow   with {@code network}: the names it needs, within the server's list; empty for all of it
 */
public record ExecutionRequest(String language, String code, Map<String, String> files, List<String> command,
                               String stdin, String image, String runtime, SecurityLevel securityLevel,
                               LimitsRequest limits, boolean network, Map<String, String> env, String workDir,
                               String userId, String sessionId, DlpMode dlpMode, boolean background,
                               boolean keepStdinOpen, boolean persistent, boolean returnImages, int priority,
                               String callbackUrl, List<String> networkAllow) {

    public ExecutionRequest {
        files = files == null ? Map.of() : Map.copyOf(files);
        command = command == null ? List.of() : List.copyOf(command);
        limits = limits == null ? LimitsRequest.DEFAULTS : limits;
        env = env == null ? Map.of() : Map.copyOf(env);
        networkAllow = networkAllow == null ? List.of() : List.copyOf(networkAllow);
    }

    @JsonIgnore // derived, not a field
    public boolean isSnippet() {
        return language != null || code != null;
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.language = language; b.code = code; b.files = new LinkedHashMap<>(files); b.command = command;
        b.stdin = stdin; b.image = image; b.runtime = runtime; b.securityLevel = securityLevel; b.limits = limits;
        b.network = network; b.env = new LinkedHashMap<>(env); b.workDir = workDir; b.userId = userId;
        b.sessionId = sessionId; b.dlpMode = dlpMode; b.background = background; b.keepStdinOpen = keepStdinOpen;
        b.persistent = persistent; b.returnImages = returnImages; b.priority = priority; b.callbackUrl = callbackUrl;
        b.networkAllow = networkAllow;
        return b;
    }

    /** Builds requests in tests, the CLI and the API layers without a 14-argument constructor. */
    public static final class Builder {
        private String language, code, stdin, image, runtime, workDir, userId, sessionId, callbackUrl;
        private int priority;
        private Map<String, String> files = new LinkedHashMap<>();
        private List<String> command = List.of();
        private List<String> networkAllow = List.of();
        private SecurityLevel securityLevel;
        private LimitsRequest limits = LimitsRequest.DEFAULTS;
        private boolean network, background, keepStdinOpen, persistent, returnImages;
        private Map<String, String> env = new LinkedHashMap<>();
        private DlpMode dlpMode;

        public Builder language(String v) { language = v; return this; }
        public Builder code(String v) { code = v; return this; }
        public Builder file(String path, String content) { files.put(path, content); return this; }
        public Builder files(Map<String, String> v) {
            files = new LinkedHashMap<>(v == null ? Map.of() : v);
            return this;
        }
        public Builder command(List<String> v) { command = v; return this; }
        public Builder command(String... v) { command = List.of(v); return this; }
        public Builder stdin(String v) { stdin = v; return this; }
        public Builder image(String v) { image = v; return this; }
        public Builder runtime(String v) { runtime = v; return this; }
        public Builder securityLevel(SecurityLevel v) { securityLevel = v; return this; }
        public Builder limits(LimitsRequest v) { limits = v; return this; }
        public Builder network(boolean v) { network = v; return this; }
        public Builder networkAllow(List<String> v) { networkAllow = v; return this; }
        public Builder env(String key, String value) { env.put(key, value); return this; }
        public Builder env(Map<String, String> v) { env = new LinkedHashMap<>(v == null ? Map.of() : v); return this; }
        public Builder workDir(String v) { workDir = v; return this; }
        public Builder userId(String v) { userId = v; return this; }
        public Builder sessionId(String v) { sessionId = v; return this; }
        public Builder dlpMode(DlpMode v) { dlpMode = v; return this; }
        public Builder background(boolean v) { background = v; return this; }
        public Builder keepStdinOpen(boolean v) { keepStdinOpen = v; return this; }
        public Builder persistent(boolean v) { persistent = v; return this; }
        public Builder returnImages(boolean v) { returnImages = v; return this; }
        public Builder priority(int v) { priority = v; return this; }
        public Builder callbackUrl(String v) { callbackUrl = v; return this; }

        public ExecutionRequest build() {
            return new ExecutionRequest(language, code, files, command, stdin, image, runtime, securityLevel, limits,
                    network, env, workDir, userId, sessionId, dlpMode, background, keepStdinOpen, persistent,
                    returnImages, priority, callbackUrl, networkAllow);
        }
    }
}
