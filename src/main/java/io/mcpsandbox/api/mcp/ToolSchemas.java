package io.mcpsandbox.api.mcp;

import io.mcpsandbox.api.RequestParser;
import io.mcpsandbox.config.RuntimeSettings;
import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.DlpMode;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.model.Units;
import io.mcpsandbox.policy.RequestValidator;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * JSON schemas of the tools' inputs and outputs. Every limit is read from the configuration and the request
 * validator, so what a client is told is exactly what policy enforces.
 */
final class ToolSchemas {

    private final SandboxConfig config;
    private final List<String> runtimeNames;

    ToolSchemas(SandboxConfig config, List<String> runtimeNames) {
        this.config = config;
        this.runtimeNames = List.copyOf(runtimeNames);
    }

    Map<String, Object> executeCode() {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("language", prop("string", "Language of the code: " + languages() + ".",
                "enum", List.copyOf(new TreeSet<>(config.languages().keySet()))));
        p.put("code", prop("string", "Source code to run. It is written to a file in /workspace and run with the "
                + "language's interpreter. At most " + RequestValidator.MAX_CODE_BYTES + " bytes (UTF-8).",
                "maxLength", RequestValidator.MAX_CODE_BYTES));
        p.put("files", stringMap("Extra files written to /workspace before the code runs, by relative path "
                + "(letters, digits, '._+@- ', '/' between segments, no '.' or '..'). At most "
                + RequestValidator.MAX_FILES + " files, " + config.defaultLimits().tmpBytes()
                + " bytes together (the size of /workspace).", RequestValidator.MAX_FILES));
        common(p);
        return object(p, List.of("language", "code"));
    }

    Map<String, Object> runCommand() {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("image", prop("string", "Image whose root filesystem the command runs in, as a reference such as "
                + "'alpine:3.19' or 'python:3.11-slim' (a missing tag is 'latest'; default: '"
                + config.defaultImage() + "', the host's own programs, read-only).", "maxLength",
                RequestParser.MAX_NAME));
        p.put("command", Map.of("type", "array", "items", Map.of("type", "string"), "minItems", 1,
                "maxItems", RequestValidator.MAX_ARGS,
                "description", "The program and its arguments, run directly (no shell unless you run one, e.g. "
                        + "[\"sh\", \"-c\", \"echo hi\"]). At most " + RequestValidator.MAX_ARGS + " arguments and "
                        + RequestValidator.MAX_ARGV_BYTES + " bytes together."));
        p.put("env", stringMap("Environment variables for the program (names like [A-Za-z_][A-Za-z0-9_]*). "
                + "Nothing of the server's environment is passed; PATH and HOME are set. At most "
                + RequestValidator.MAX_ENV_ENTRIES + " variables, " + RequestValidator.MAX_ENV_BYTES + " bytes together.",
                RequestValidator.MAX_ENV_ENTRIES));
        p.put("workDir", prop("string", "Working directory inside the sandbox: /workspace (the default), /tmp, "
                + "or a directory below one of them, made if missing. An absolute path without '.', '..' or empty "
                + "components; at most " + RequestValidator.MAX_WORKDIR_BYTES + " bytes.", "maxLength",
                RequestValidator.MAX_WORKDIR_BYTES));
        common(p);
        return object(p, List.of("command"));
    }

    Map<String, Object> executionId(String what) {
        return object(Map.of("executionId", prop("string", what, "maxLength", 64)), List.of("executionId"));
    }

    Map<String, Object> empty() {
        return object(Map.of(), List.of());
    }

    /** The result object of DESIGN.md. */
    Map<String, Object> result() {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("executionId", Map.of("type", "string"));
        p.put("status", Map.of("type", "string", "enum", Arrays.stream(ExecutionStatus.values())
                .map(ExecutionStatus::wireName).toList(), "description", "completed: the program exited on its own "
                + "(any exit code); rejected: policy refused it, nothing ran; error: the service failed (see reason)."));
        p.put("exitCode", Map.of("type", List.of("integer", "null"),
                "description", "The program's exit code; 128+N when killed by signal N; null when it never ran."));
        p.put("stdout", Map.of("type", "string"));
        p.put("stderr", Map.of("type", "string"));
        p.put("stdoutTruncated", Map.of("type", "boolean"));
        p.put("stderrTruncated", Map.of("type", "boolean"));
        p.put("durationMs", Map.of("type", "integer"));
        p.put("runtime", Map.of("type", List.of("string", "null")));
        p.put("securityLevel", Map.of("type", List.of("string", "null")));
        p.put("image", Map.of("type", List.of("string", "null")));
        p.put("resourceUsage", Map.of("type", "object"));
        p.put("securityEvents", Map.of("type", "array", "items", Map.of("type", "object")));
        p.put("reason", Map.of("type", "string", "description", "Why, for rejected, error, timeout and the like."));
        return Map.of("type", "object", "properties", p, "required", List.of("executionId", "status"));
    }

    Map<String, Object> listOf(String property, String description) {
        return Map.of("type", "object", "properties", Map.of(property, Map.of("type", "array",
                "items", Map.of("type", "object"), "description", description)), "required", List.of(property));
    }

    Map<String, Object> terminated() {
        return Map.of("type", "object", "properties", Map.of(
                "executionId", Map.of("type", "string"),
                "outcome", Map.of("type", "string", "enum", List.of("terminating", "already_finished"),
                        "description", "terminating: it is being killed and its result will say 'terminated'.")),
                "required", List.of("executionId", "outcome"));
    }

    private void common(Map<String, Object> p) {
        p.put("stdin", prop("string", "Text given to the program on standard input. At most "
                + RequestValidator.MAX_STDIN_BYTES + " bytes (UTF-8).", "maxLength", RequestValidator.MAX_STDIN_BYTES));
        p.put("limits", limits());
        p.put("network", Map.of("type", "boolean", "default", false, "description", "Ask for network access. "
                + "Sandboxes have no network by default; this server has no network provider, so true is rejected."));
        SecurityLevel minimum = RuntimeSettings.from(config.settings()).minimumLevel();
        SecurityLevel level = SecurityLevel.DEFAULT.compareTo(minimum) >= 0 ? SecurityLevel.DEFAULT : minimum;
        p.put("securityLevel", Map.of("type", "string", "enum", Arrays.stream(SecurityLevel.values())
                .map(SecurityLevel::wireName).toList(), "default", level.wireName(),
                "description", "Isolation strength: low and medium run under runc (namespaces, cgroups, seccomp), "
                        + "high under gVisor, critical in a microVM. Never silently downgraded: if no runtime for the "
                        + "level is usable here, the request is rejected. This server's minimum level is '"
                        + minimum.wireName() + "': a lower one is rejected."));
        p.put("runtime", Map.of("type", "string", "enum", runtimeNames,
                "description", "An explicit runtime; wins over securityLevel, within the server's runtimes.allowed "
                        + "and security.minimum-level (a runtime outside them is rejected with the reason)."));
        p.put("sessionId", prop("string", "Your own id to group executions in records.", "maxLength",
                RequestParser.MAX_SESSION_ID));
        p.put("dlpMode", Map.of("type", "string", "enum", Arrays.stream(DlpMode.values()).map(DlpMode::wireName).toList(),
                "description", "What the output scanner does with secrets and personal data it finds: report them "
                        + "as security events (the server's default unless configured otherwise), redact them in the "
                        + "returned output, or block (withhold) the output."));
    }

    private Map<String, Object> limits() {
        ResourceLimits def = config.defaultLimits();
        ResourceLimits max = config.maxLimits();
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("timeoutMs", range("integer", "Wall-clock limit in milliseconds; at the deadline every process of the "
                + "sandbox is killed (status timeout).", RequestValidator.MIN_TIMEOUT_MS, max.timeout().toMillis(), def.timeout().toMillis()));
        p.put("memoryBytes", range("integer", "Memory limit in bytes, no swap beyond it (status oom_killed). Max "
                + Units.formatBytes(max.memoryBytes()) + ".", RequestValidator.MIN_MEMORY_BYTES, max.memoryBytes(),
                def.memoryBytes()));
        p.put("cpus", range("number", "CPU limit in cores.", RequestValidator.MIN_CPUS, max.cpus(), def.cpus()));
        p.put("pids", range("integer", "Most processes and threads at once.", RequestValidator.MIN_PIDS, max.pids(), def.pids()));
        p.put("outputBytes", range("integer", "Cap on stdout and stderr together; beyond it the sandbox is killed "
                + "(status output_limit).", RequestValidator.MIN_OUTPUT_BYTES, max.outputBytes(), def.outputBytes()));
        Map<String, Object> schema = new LinkedHashMap<>();
        schema.put("type", "object");
        schema.put("description", "Resource limits; each one left out gets the server's default.");
        schema.put("properties", p);
        schema.put("additionalProperties", false);
        return schema;
    }

    private static Map<String, Object> range(String type, String description, Number min, Number max, Number def) {
        return Map.of("type", type, "description", description, "minimum", min, "maximum", max, "default", def);
    }

    private static Map<String, Object> prop(String type, String description, String k, Object v) {
        return Map.of("type", type, "description", description, k, v);
    }

    private static Map<String, Object> stringMap(String description, int maxProperties) {
        return Map.of("type", "object", "additionalProperties", Map.of("type", "string"),
                "maxProperties", maxProperties, "description", description);
    }

    private static Map<String, Object> object(Map<String, Object> properties, List<String> required) {
        Map<String, Object> schema = new LinkedHashMap<>();
        schema.put("type", "object");
        schema.put("properties", properties);
        if (!required.isEmpty()) {
            schema.put("required", required);
        }
        schema.put("additionalProperties", false);
        return schema;
    }

    private String languages() {
        return String.join(", ", new TreeSet<>(config.languages().keySet()));
    }
}
