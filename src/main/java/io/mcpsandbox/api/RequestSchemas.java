package io.mcpsandbox.api;

import io.mcpsandbox.config.RuntimeSettings;
import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.model.DlpMode;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.model.SessionStatus;
import io.mcpsandbox.model.Units;
import io.mcpsandbox.policy.RequestValidator;
import io.mcpsandbox.queue.QueueSettings;
import io.mcpsandbox.session.SessionFiles;
import io.mcpsandbox.session.SessionSettings;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * The one description of every request (JSON Schema draft 2020-12): MCP advertises these schemas in
 * {@code tools/list}, {@link RequestParser} validates with them, and the OpenAPI document embeds them.
 *
 * <p>Each schema states everything a client should know, the configured maxima included. Who answers a broken
 * rule differs: shape (types, required and unknown fields, the few fixed length caps) is checked at the door and
 * refused as an invalid request; the bounds marked {@linkplain #deferred deferred} (configured limits, languages,
 * runtimes, the case-insensitive enums) are left to policy and to the model's parsing, which refuse them with the
 * configured limit named and, for policy, a recorded rejection.
 */
public final class RequestSchemas {
    public static final String DIALECT = "https://json-schema.org/draft/2020-12/schema";
    public static final List<String> LIMIT_FIELDS = List.of("timeoutMs", "memoryBytes", "cpus", "pids", "outputBytes");
    public static final int MAX_SESSION_ID = 256;
    public static final int MAX_NAME = 512;
    public static final int MAX_RUNTIME_NAME = 64;
    public static final int MAX_EXECUTION_ID = 64;
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private final SandboxConfig config;
    private final List<String> runtimeNames;
    private final Map<RequestForm, ObjectNode> inputs = new EnumMap<>(RequestForm.class);
    private final Map<RequestForm, Set<String>> deferred = new EnumMap<>(RequestForm.class);

    public RequestSchemas(SandboxConfig config, List<String> runtimeNames) {
        this.config = config;
        this.runtimeNames = List.copyOf(runtimeNames);
        for (RequestForm form : RequestForm.values()) {
            Set<String> later = new HashSet<>();
            inputs.put(form, form == RequestForm.SESSION ? sessionInput(later) : input(form, later));
            deferred.put(form, Set.copyOf(later));
        }
    }

    /** The input schema of a form: a copy, the caller may change it. */
    public ObjectNode input(RequestForm form) {
        return inputs.get(form).deepCopy();
    }

    /**
     * Where a violated keyword is answered later (policy, or the model's parsing), as its schema path, e.g.
     * {@code /properties/limits/properties/timeoutMs/maximum}.
     */
    public boolean deferred(RequestForm form, String schemaPath) {
        return deferred.get(form).contains(schemaPath);
    }

    /** The names a form accepts at its top level. */
    public Set<String> fields(RequestForm form) {
        return new TreeSet<>(inputs.get(form).get("properties").propertyNames());
    }

    private ObjectNode input(RequestForm form, Set<String> later) {
        ObjectNode p = NODES.objectNode();
        if (form != RequestForm.COMMAND) {
            ObjectNode language = string("Language of the code: " + String.join(", ", languages()) + ".");
            language.set("enum", strings(languages()));
            p.set("language", language);
            later.add("/properties/language/enum");
            p.set("code", bounded(string("Source code to run. It is written to a file in /workspace and run with the "
                    + "language's interpreter. At most " + RequestValidator.MAX_CODE_BYTES + " bytes (UTF-8)."),
                    "maxLength", RequestValidator.MAX_CODE_BYTES, "/properties/code", later));
            p.set("files", files("Extra files written to /workspace before the code runs", later));
            p.set("persistent", NODES.objectNode().put("type", "boolean").put("default", false).put("description",
                    "With sessionId, python or node: run the code in the session's interpreter, which keeps "
                            + "variables, imports and definitions between calls like a notebook kernel; the last "
                            + "expression's value comes back as result. One call at a time per interpreter; one "
                            + "killed (time or output limit) or crashed is restarted on the next call, which says "
                            + "so in notice. No stdin."));
        }
        if (form != RequestForm.SNIPPET) {
            p.set("image", image("the language's image, or '" + config.defaultImage() + "' for a command: the host's "
                    + "own programs, read-only"));
            ObjectNode command = NODES.objectNode().put("type", "array").put("description", "The program and its "
                    + "arguments, run directly (no shell unless you run one, e.g. [\"sh\", \"-c\", \"echo hi\"]). At "
                    + "most " + RequestValidator.MAX_ARGS + " arguments and " + RequestValidator.MAX_ARGV_BYTES
                    + " bytes together.");
            command.set("items", NODES.objectNode().put("type", "string"));
            bounded(command, "minItems", 1, "/properties/command", later);
            p.set("command", bounded(command, "maxItems", RequestValidator.MAX_ARGS, "/properties/command", later));
            p.set("env", env("Environment variables for the program", later));
            p.set("workDir", bounded(string("Working directory inside the sandbox: /workspace (the default), /tmp, "
                    + "or a directory below one of them, made if missing. An absolute path without '.', '..' or empty "
                    + "components; at most " + RequestValidator.MAX_WORKDIR_BYTES + " bytes."), "maxLength",
                    RequestValidator.MAX_WORKDIR_BYTES, "/properties/workDir", later));
        }
        common(p, later);
        ObjectNode schema = NODES.objectNode().put("$schema", DIALECT).put("type", "object");
        schema.set("properties", p);
        switch (form) {
            case SNIPPET -> schema.set("required", strings(List.of("language", "code")));
            case COMMAND -> schema.set("required", strings(List.of("command")));
            case ANY -> schema.set("oneOf", eitherSnippetOrCommand());
        }
        schema.put("additionalProperties", false);
        return schema;
    }

    /** REST takes language and code, or command; never both. */
    private static ArrayNode eitherSnippetOrCommand() {
        ObjectNode snippet = NODES.objectNode().put("title", "a snippet: language and code");
        snippet.set("required", strings(List.of("language", "code")));
        snippet.set("not", required("command"));
        ObjectNode command = NODES.objectNode().put("title", "a command: command");
        command.set("required", strings(List.of("command")));
        ObjectNode languageOrCode = NODES.objectNode();
        languageOrCode.set("anyOf", NODES.arrayNode().add(required("language")).add(required("code")));
        command.set("not", languageOrCode);
        return NODES.arrayNode().add(snippet).add(command);
    }

    private void common(ObjectNode p, Set<String> later) {
        p.set("stdin", bounded(string("Text given to the program on standard input. At most "
                + RequestValidator.MAX_STDIN_BYTES + " bytes (UTF-8)."), "maxLength", RequestValidator.MAX_STDIN_BYTES,
                "/properties/stdin", later));
        p.set("limits", limits(later));
        p.set("network", network());
        isolation(p, later);
        ObjectNode sessionId = string("Runs the program in this session of yours (POST /v1/sessions, MCP "
                + "create_session): a new process in its sandbox, beside what earlier executions left there. The "
                + "session fixes image, runtime, level, memory, CPUs and pids; this request sets its own timeout, "
                + "output cap, env, files, stdin and workDir.");
        sessionId.put("maxLength", MAX_SESSION_ID);
        p.set("sessionId", sessionId);
        ObjectNode dlp = string("What the output scanner does with secrets and personal data it finds: report them "
                + "as security events (the server's default unless configured otherwise), redact them in the returned "
                + "output, or block (withhold) the output.");
        dlp.set("enum", strings(Arrays.stream(DlpMode.values()).map(DlpMode::wireName).toList()));
        p.set("dlpMode", dlp);
        later.add("/properties/dlpMode/enum");
        p.set("background", NODES.objectNode().put("type", "boolean").put("default", false).put("description",
                "Answer at once with the execution's id and let it run on: outside a session it waits in the durable "
                        + "queue (status queued, with its position) until its turn, then runs; its output so far is "
                        + "in get_execution / GET /v1/executions/{id} (add ?stream=true to follow it live), its "
                        + "result there once it ends; terminate_execution / DELETE cancels or ends it."));
        p.set("priority", NODES.objectNode().put("type", "integer").put("default", 0)
                .put("minimum", QueueSettings.MIN_PRIORITY).put("maximum", QueueSettings.MAX_PRIORITY)
                .put("description", "For a queued (background, async) execution: its rank within your own queue, "
                        + "higher first. Other users' turns are not affected: users take turns."));
        p.set("callbackUrl", string("When the execution ends, its result is POSTed here, signed "
                + "(X-Mcp-Sandbox-Signature, docs/callbacks.md), retried with back-off. Only hosts on the server's "
                + "callbacks.allowed-hosts; never loopback, private, link-local or metadata addresses.")
                .put("maxLength", 2048));
        p.set("keepStdinOpen", NODES.objectNode().put("type", "boolean").put("default", false).put("description",
                "Keep the program's standard input open after `stdin`, for more input while it runs (MCP "
                        + "write_stdin, POST /v1/executions/{id}/stdin) until that closes it or the program ends. "
                        + "Without it, stdin ends after `stdin`."));
    }

    /** securityLevel and runtime, which choose the sandbox's isolation. */
    private void isolation(ObjectNode p, Set<String> later) {
        SecurityLevel minimum = RuntimeSettings.from(config.settings()).minimumLevel();
        SecurityLevel level = SecurityLevel.DEFAULT.compareTo(minimum) >= 0 ? SecurityLevel.DEFAULT : minimum;
        ObjectNode securityLevel = string("Isolation strength: low and medium run under runc (namespaces, cgroups, "
                + "seccomp), high under gVisor, critical in a microVM. Never silently downgraded: if no runtime for "
                + "the level is usable here, the request is rejected. This server's minimum level is '"
                + minimum.wireName() + "': a lower one is rejected.");
        securityLevel.set("enum", strings(Arrays.stream(SecurityLevel.values()).map(SecurityLevel::wireName).toList()));
        securityLevel.put("default", level.wireName());
        p.set("securityLevel", securityLevel);
        later.add("/properties/securityLevel/enum"); // parsed case-insensitively, refused with the allowed values
        ObjectNode runtime = string("An explicit runtime; wins over securityLevel, within the server's "
                + "runtimes.allowed and security.minimum-level (a runtime outside them is rejected with the reason).");
        runtime.set("enum", strings(runtimeNames));
        runtime.put("maxLength", MAX_RUNTIME_NAME);
        p.set("runtime", runtime);
        later.add("/properties/runtime/enum");
    }

    /** The most names one request may list in network.allow, and the longest name (a DNS name's limit). */
    static final int MAX_NETWORK_ALLOW = 64;
    static final int MAX_NETWORK_NAME = 253;

    private static ObjectNode network() {
        ObjectNode names = NODES.objectNode().put("type", "array").put("maxItems", MAX_NETWORK_ALLOW)
                .put("uniqueItems", true);
        names.set("items", NODES.objectNode().put("type", "string").put("minLength", 1)
                .put("maxLength", MAX_NETWORK_NAME).put("pattern", "^(\\*\\.)?[A-Za-z0-9.-]+$"));
        names.put("description", "The names the program needs ('pypi.org', '*.example.org'); each must be "
                + "covered by the server's network.allowed-domains. Omitted: the server's whole list.");
        ObjectNode narrowed = NODES.objectNode().put("type", "object").put("additionalProperties", false);
        narrowed.putObject("properties").set("allow", names);
        ObjectNode network = NODES.objectNode().put("default", false).put("description",
                "Ask for network access: true for the server's list of allowed domains, or {\"allow\": [names]} "
                        + "for fewer. Egress leaves only through the server's policy point, as an HTTP(S) proxy "
                        + "(HTTP_PROXY/HTTPS_PROXY are set); refused unless the server has network.enabled.");
        network.putArray("oneOf").add(NODES.objectNode().put("type", "boolean")).add(narrowed);
        return network;
    }

    private ObjectNode image(String defaultText) {
        ObjectNode image = string("Image whose root filesystem the program runs in, as a reference such as "
                + "'alpine:3.19' or 'python:3.11-slim' (a missing tag is 'latest'; default: " + defaultText + ").");
        image.put("maxLength", MAX_NAME);
        return image;
    }

    private static ObjectNode env(String what, Set<String> later) {
        return bounded(stringMap(what + " (names like [A-Za-z_][A-Za-z0-9_]*). Nothing of the server's environment "
                + "is passed; PATH and HOME are set. At most " + RequestValidator.MAX_ENV_ENTRIES + " variables, "
                + RequestValidator.MAX_ENV_BYTES + " bytes together."), "maxProperties",
                RequestValidator.MAX_ENV_ENTRIES, "/properties/env", later);
    }

    private ObjectNode files(String what, Set<String> later) {
        return bounded(stringMap(what + ", by relative path (letters, digits, '._+@- ', '/' between segments, no "
                + "'.' or '..'), as UTF-8 text. At most " + RequestValidator.MAX_FILES + " files, "
                + config.defaultLimits().tmpBytes() + " bytes together (the size of /workspace)."), "maxProperties",
                RequestValidator.MAX_FILES, "/properties/files", later);
    }

    /**
     * The request to open a session: the sandbox's image, isolation and limits, what it starts with, how long
     * it lives. The lifetimes' bounds ({@code session.max-lifetime}) are stated here and answered by the
     * session service, which names them.
     */
    private ObjectNode sessionInput(Set<String> later) {
        SessionSettings sessions = SessionSettings.from(config.settings());
        long maxSeconds = sessions.maxLifetime().toSeconds();
        ObjectNode p = NODES.objectNode();
        p.set("image", image("'" + config.defaultImage() + "', the host's own programs, read-only"));
        isolation(p, later);
        ObjectNode limits = limits(later);
        limits.put("description", "The session's sandbox: memoryBytes, cpus and pids hold for everything running "
                + "in it together; timeoutMs and outputBytes are the defaults of each execution in it (one may ask "
                + "for its own). Each one left out gets the server's default.");
        p.set("limits", limits);
        p.set("env", env("Environment variables every execution in the session gets (its own are added on top)",
                later));
        p.set("files", files("Text files placed in /workspace before the session opens", later));
        p.set("network", network());
        ObjectNode rootfs = string("The sandbox's root filesystem: read-only (the default), or writable (an "
                + "overlay in the session's capped storage, where the server offers it).");
        rootfs.set("enum", strings(List.of("read-only", "writable")));
        rootfs.put("default", "read-only");
        p.set("rootfs", rootfs);
        p.set("idleTimeoutSeconds", range("integer", "Closed (reason idle) after this many seconds without an "
                + "execution or file operation; 0: never for idleness. At most " + maxSeconds
                + " (session.max-lifetime).", 0, maxSeconds, sessions.idleTimeout().toSeconds()));
        p.set("lifetimeSeconds", range("integer", "Closed (reason expired) at the latest this many seconds after it "
                + "opened. At most " + maxSeconds + " (session.max-lifetime).", 1, maxSeconds,
                sessions.lifetime().toSeconds()));
        for (String name : List.of("idleTimeoutSeconds", "lifetimeSeconds")) {
            later.add("/properties/" + name + "/minimum");
            later.add("/properties/" + name + "/maximum");
        }
        ObjectNode schema = NODES.objectNode().put("$schema", DIALECT).put("type", "object");
        schema.set("properties", p);
        return schema.put("additionalProperties", false);
    }

    private ObjectNode limits(Set<String> later) {
        ResourceLimits def = config.defaultLimits();
        ResourceLimits max = config.maxLimits();
        ObjectNode p = NODES.objectNode();
        p.set("timeoutMs", range("integer", "Wall-clock limit in milliseconds; at the deadline every process of the "
                + "sandbox is killed (status timeout).", RequestValidator.MIN_TIMEOUT_MS, max.timeout().toMillis(),
                def.timeout().toMillis()));
        p.set("memoryBytes", range("integer", "Memory limit in bytes, no swap beyond it (status oom_killed). Max "
                + Units.formatBytes(max.memoryBytes()) + ".", RequestValidator.MIN_MEMORY_BYTES, max.memoryBytes(),
                def.memoryBytes()));
        p.set("cpus", range("number", "CPU limit in cores.", RequestValidator.MIN_CPUS, max.cpus(), def.cpus()));
        p.set("pids", range("integer", "Most processes and threads at once.", RequestValidator.MIN_PIDS, max.pids(),
                def.pids()));
        p.set("outputBytes", range("integer", "Cap on stdout and stderr together; beyond it the sandbox is killed "
                + "(status output_limit).", RequestValidator.MIN_OUTPUT_BYTES, max.outputBytes(), def.outputBytes()));
        for (String name : LIMIT_FIELDS) {
            later.add("/properties/limits/properties/" + name + "/minimum");
            later.add("/properties/limits/properties/" + name + "/maximum");
        }
        ObjectNode schema = NODES.objectNode().put("type", "object")
                .put("description", "Resource limits; each one left out gets the server's default.");
        schema.set("properties", p);
        schema.put("additionalProperties", false);
        return schema;
    }

    /** get_execution and terminate_execution: one execution id. */
    public ObjectNode executionId(String description) {
        ObjectNode id = string(description);
        id.put("minLength", 1).put("maxLength", MAX_EXECUTION_ID);
        ObjectNode schema = NODES.objectNode().put("$schema", DIALECT).put("type", "object");
        schema.set("properties", NODES.objectNode().set("executionId", id));
        schema.set("required", strings(List.of("executionId")));
        return schema.put("additionalProperties", false);
    }

    /** write_stdin's input: the execution, text or base64 bytes, and whether to close its stdin after. */
    public ObjectNode writeStdin() {
        Map<String, ObjectNode> p = new java.util.LinkedHashMap<>();
        p.put("executionId", string("A running execution of yours started with keepStdinOpen.")
                .put("minLength", 1).put("maxLength", MAX_EXECUTION_ID));
        p.put("data", string("Text to send (UTF-8). Give this or dataBase64 (or neither, with eof)."));
        p.put("dataBase64", string("Bytes to send, as base64."));
        p.put("eof", NODES.objectNode().put("type", "boolean").put("default", false)
                .put("description", "Close its stdin after these bytes."));
        ObjectNode schema = object(p, List.of("executionId"));
        ObjectNode notBoth = NODES.objectNode();
        notBoth.set("required", strings(List.of("data", "dataBase64")));
        return schema.set("not", notBoth);
    }

    /** What write_stdin answers. */
    public ObjectNode stdinWritten() {
        ObjectNode p = NODES.objectNode();
        p.set("executionId", type("string"));
        p.set("bytesWritten", type("integer").put("description", "Bytes that reached the program."));
        p.set("stdinClosed", type("boolean"));
        ObjectNode schema = NODES.objectNode().put("type", "object");
        schema.set("properties", p);
        return schema.set("required", strings(List.of("executionId", "bytesWritten", "stdinClosed")));
    }

    /** close_session's input: the one session. */
    public ObjectNode sessionIdOnly() {
        return object(Map.of("sessionId", sessionIdField()), List.of("sessionId"));
    }

    /** write_file's input: a path below /workspace and its content, as text or as base64. */
    public ObjectNode writeFile() {
        Map<String, ObjectNode> p = new java.util.LinkedHashMap<>();
        p.put("sessionId", sessionIdField());
        p.put("path", pathField("Absolute path below /workspace; missing directories are made."));
        p.put("content", string("The file's content as text (UTF-8). Give this or contentBase64."));
        p.put("contentBase64", string("The file's content as base64, for bytes. Give this or content."));
        ObjectNode schema = object(p, List.of("sessionId", "path"));
        ArrayNode oneOf = NODES.arrayNode();
        oneOf.add(required("content"));
        oneOf.add(required("contentBase64"));
        return schema.set("oneOf", oneOf);
    }

    /** read_file's input. */
    public ObjectNode readFile() {
        Map<String, ObjectNode> p = new java.util.LinkedHashMap<>();
        p.put("sessionId", sessionIdField());
        p.put("path", pathField("Absolute path of a regular file below /workspace or /tmp."));
        return object(p, List.of("sessionId", "path"));
    }

    /** list_files's input. */
    public ObjectNode listFiles() {
        Map<String, ObjectNode> p = new java.util.LinkedHashMap<>();
        p.put("sessionId", sessionIdField());
        p.put("dir", pathField("A directory: /workspace (the default), /tmp, or one below them."));
        return object(p, List.of("sessionId"));
    }

    /** What read_file and write_file answer. */
    public ObjectNode fileResult() {
        Map<String, ObjectNode> p = new java.util.LinkedHashMap<>();
        p.put("path", type("string"));
        p.put("size", type("integer").put("description", "Bytes written, or returned."));
        p.put("truncated", type("boolean").put("description", "read_file: the file is longer than returned."));
        p.put("content", type("string").put("description", "read_file: the content, when it is UTF-8 text."));
        p.put("contentBase64", type("string").put("description", "read_file: the content as base64 otherwise."));
        ObjectNode schema = NODES.objectNode().put("type", "object");
        ObjectNode props = NODES.objectNode();
        p.forEach(props::set);
        schema.set("properties", props);
        return schema.set("required", strings(List.of("path", "size")));
    }

    private static ObjectNode sessionIdField() {
        ObjectNode id = string("A session of yours (create_session).");
        return id.put("minLength", 1).put("maxLength", MAX_SESSION_ID);
    }

    private static ObjectNode pathField(String description) {
        return string(description).put("minLength", 1).put("maxLength", SessionFiles.MAX_PATH_BYTES);
    }

    private static ObjectNode object(Map<String, ObjectNode> properties, List<String> required) {
        ObjectNode schema = NODES.objectNode().put("$schema", DIALECT).put("type", "object");
        ObjectNode props = NODES.objectNode();
        properties.forEach(props::set);
        schema.set("properties", props);
        schema.set("required", strings(required));
        return schema.put("additionalProperties", false);
    }

    /** Tools without arguments. */
    public ObjectNode empty() {
        ObjectNode schema = NODES.objectNode().put("$schema", DIALECT).put("type", "object");
        schema.set("properties", NODES.objectNode());
        return schema.put("additionalProperties", false);
    }

    /** The result object of DESIGN.md, as MCP's structuredContent and REST's body. */
    public ObjectNode result() {
        ObjectNode p = NODES.objectNode();
        p.set("executionId", type("string"));
        ObjectNode status = type("string").put("description", "completed: the program exited on its own (any exit "
                + "code); rejected: policy refused it, nothing ran; error: the service failed (see reason); queued: "
                + "waiting in the queue (position, estimatedStartAt); cancelled: taken out of the queue, never ran.");
        status.set("enum", strings(Arrays.stream(ExecutionStatus.values()).map(ExecutionStatus::wireName).toList()));
        p.set("status", status);
        p.set("exitCode", nullable("integer").put("description",
                "The program's exit code; 128+N when killed by signal N; null when it never ran."));
        p.set("stdout", type("string"));
        p.set("stderr", type("string"));
        p.set("stdoutTruncated", type("boolean"));
        p.set("stderrTruncated", type("boolean"));
        p.set("durationMs", type("integer"));
        p.set("runtime", nullable("string"));
        p.set("securityLevel", nullable("string"));
        p.set("image", nullable("string"));
        p.set("resourceUsage", type("object"));
        p.set("securityEvents", NODES.objectNode().put("type", "array").set("items", type("object")));
        p.set("reason", type("string").put("description", "Why, for rejected, error, timeout and the like."));
        p.set("result", type("string").put("description", "persistent: the last expression's value as text "
                + "(absent when it has none)."));
        p.set("notice", type("string").put("description", "Something to know about how it ran, e.g. that the "
                + "session's interpreter was restarted (its earlier state is gone)."));
        p.set("pooled", type("boolean").put("description", "Whether it ran in a sandbox started ahead from a warm "
                + "pool (docs/pools.md); false when a sandbox was started for it or none ran."));
        p.set("node", type("string").put("description", "Cluster mode: the id of the node that ran it "
                + "(docs/cluster.md); absent outside cluster mode."));
        p.set("position", type("integer").put("description", "queued: its place in the run order (1 = next; "
                + "users take turns)."));
        p.set("estimatedStartAt", type("string").put("description", "queued: when it should start, from its "
                + "position, the slots and recent durations (a guess)."));
        p.set("queuedAt", type("string").put("description", "queued: when it was accepted."));
        p.set("priority", type("integer").put("description", "queued: its rank within its user's own queue."));
        p.set("userId", type("string").put("description", "queued: whose it is."));
        ObjectNode schema = NODES.objectNode().put("type", "object");
        schema.set("properties", p);
        schema.set("required", strings(List.of("executionId", "status")));
        return schema;
    }

    /** A session as REST and MCP show it (never where its sandbox is: no sandbox name, no server id). */
    public ObjectNode session() {
        ObjectNode p = NODES.objectNode();
        p.set("sessionId", type("string"));
        ObjectNode status = type("string").put("description", "open: it takes executions and files; closed: its "
                + "sandbox is gone (closeReason says why).");
        status.set("enum", strings(Arrays.stream(SessionStatus.values()).map(SessionStatus::wireName).toList()));
        p.set("status", status);
        p.set("image", type("string"));
        p.set("runtime", type("string"));
        p.set("securityLevel", type("string"));
        p.set("rootfs", type("string").put("description", "read-only or writable"));
        ObjectNode limits = NODES.objectNode();
        for (String name : List.of("timeoutMs", "memoryBytes", "pids", "outputBytes", "tmpBytes")) {
            limits.set(name, type("integer"));
        }
        limits.set("cpus", type("number"));
        p.set("limits", type("object").put("description", "What the sandbox runs under; tmpBytes is the size of "
                + "its /workspace and /tmp each.").set("properties", limits));
        p.set("createdAt", instant());
        p.set("expiresAt", instant().put("description", "The end of its lifetime."));
        p.set("idleTimeoutSeconds", type("integer").put("description", "0: never closed for idleness."));
        p.set("idleExpiresAt", nullable("string").put("format", "date-time").put("description",
                "When it closes as idle unless something runs before; null without an idle timeout."));
        p.set("lastActiveAt", instant());
        p.set("executions", type("integer").put("description", "How many executions and file operations used it."));
        ObjectNode reason = nullable("string").put("description", "Why it closed (closed: by its owner; idle; "
                + "expired: its lifetime ended; failed: its sandbox broke; server_restart; node_lost: the cluster node "
                + "that held it died).");
        p.set("closeReason", reason);
        p.set("closeDetail", nullable("string"));
        p.set("closedAt", nullable("string").put("format", "date-time"));
        ObjectNode schema = NODES.objectNode().put("type", "object");
        schema.set("properties", p);
        schema.set("required", strings(List.of("sessionId", "status", "image", "runtime", "securityLevel", "rootfs",
                "limits", "createdAt", "expiresAt", "idleTimeoutSeconds", "idleExpiresAt", "lastActiveAt",
                "executions")));
        return schema;
    }

    /** A directory of a session, as the sandbox's agent listed it. */
    public ObjectNode fileListing() {
        ObjectNode entry = NODES.objectNode();
        entry.set("name", type("string").put("description", "As the sandbox named it: untrusted text."));
        ObjectNode kind = type("string");
        kind.set("enum", strings(List.of("file", "dir", "link", "other")));
        entry.set("type", kind.put("description", "What the entry is, never following a link."));
        entry.set("size", type("integer").put("description", "Bytes (for a link: the length of its target)."));
        entry.set("modifiedAt", nullable("string").put("format", "date-time")
                .put("description", "null when the sandbox claims a time no date can be."));
        ObjectNode entries = NODES.objectNode().put("type", "array").put("description", "In the sandbox's order, "
                + "at most " + SessionFiles.MAX_LIST_ENTRIES + ".");
        entries.set("items", type("object").<ObjectNode>set("properties", entry)
                .set("required", strings(List.of("name", "type", "size", "modifiedAt"))));
        ObjectNode p = NODES.objectNode();
        p.set("dir", type("string"));
        p.set("entries", entries);
        p.set("truncated", type("boolean").put("description", "The directory holds more entries than listed."));
        ObjectNode schema = NODES.objectNode().put("type", "object");
        schema.set("properties", p);
        schema.set("required", strings(List.of("dir", "entries", "truncated")));
        return schema;
    }

    private static ObjectNode instant() {
        return type("string").put("format", "date-time");
    }

    /** {@code {property: [objects]}}, the shape of the listings. */
    public ObjectNode listOf(String property, String description) {
        ObjectNode list = NODES.objectNode().put("type", "array").put("description", description);
        list.set("items", type("object"));
        ObjectNode schema = NODES.objectNode().put("type", "object");
        schema.set("properties", NODES.objectNode().set(property, list));
        schema.set("required", strings(List.of(property)));
        return schema;
    }

    /** The answer to terminate_execution and {@code DELETE /v1/executions/{id}}. */
    public ObjectNode terminated() {
        ObjectNode outcome = type("string").put("description",
                "terminating: it is being killed and its result will say 'terminated'; cancelled: it was queued and "
                        + "never runs, its result says 'cancelled'.");
        outcome.set("enum", strings(List.of("terminating", "cancelled", "already_finished")));
        ObjectNode p = NODES.objectNode();
        p.set("executionId", type("string"));
        p.set("outcome", outcome);
        ObjectNode schema = NODES.objectNode().put("type", "object");
        schema.set("properties", p);
        schema.set("required", strings(List.of("executionId", "outcome")));
        return schema;
    }

    private List<String> languages() {
        return List.copyOf(new TreeSet<>(config.languages().keySet()));
    }

    /** Adds a bound that policy enforces (and names) with the same value: advertised here, checked there. */
    private static ObjectNode bounded(ObjectNode node, String keyword, long value, String path, Set<String> later) {
        node.put(keyword, value);
        later.add(path + "/" + keyword);
        return node;
    }

    private static ObjectNode range(String type, String description, Number min, Number max, Number def) {
        ObjectNode node = type(type).put("description", description);
        node.set("minimum", number(min));
        node.set("maximum", number(max));
        node.set("default", number(def));
        return node;
    }

    private static ObjectNode string(String description) {
        return type("string").put("description", description);
    }

    private static ObjectNode stringMap(String description) {
        ObjectNode node = type("object").put("description", description);
        node.set("additionalProperties", type("string"));
        return node;
    }

    private static ObjectNode type(String type) {
        return NODES.objectNode().put("type", type);
    }

    private static ObjectNode nullable(String type) {
        ObjectNode node = NODES.objectNode();
        node.set("type", strings(List.of(type, "null")));
        return node;
    }

    private static ObjectNode required(String name) {
        ObjectNode node = NODES.objectNode();
        node.set("required", strings(List.of(name)));
        return node;
    }

    private static ArrayNode strings(List<String> values) {
        ArrayNode array = NODES.arrayNode();
        values.forEach(array::add);
        return array;
    }

    private static JsonNode number(Number n) {
        return n instanceof Double || n instanceof Float ? NODES.numberNode(n.doubleValue())
                : NODES.numberNode(n.longValue());
    }
}
