package io.mcpsandbox.policy;

import io.mcpsandbox.config.LanguageSpec;
import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.image.ImageReference;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.model.Units;
import io.mcpsandbox.runtime.SandboxSpec;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * Checks a request against the configured limits and turns it into an {@link ExecutionPlan}. Every
 * refusal names the field and the limit it broke.
 */
public final class RequestValidator {
    public static final int MAX_CODE_BYTES = 1 << 20;
    public static final int MAX_STDIN_BYTES = 10 << 20;
    public static final int MAX_FILES = 100;
    public static final int MAX_ARGS = 1024;
    public static final int MAX_ARGV_BYTES = 128 << 10;
    public static final int MAX_ENV_ENTRIES = 128;
    public static final int MAX_ENV_BYTES = 64 << 10;
    /** Longest accepted workDir, in UTF-8 bytes, and longest component of it (the kernel's NAME_MAX). */
    public static final int MAX_WORKDIR_BYTES = 1024;
    public static final int MAX_WORKDIR_SEGMENT_BYTES = 255;
    public static final long MIN_TIMEOUT_MS = 1;
    public static final long MIN_MEMORY_BYTES = 16L << 20;
    public static final double MIN_CPUS = 0.01;
    public static final int MIN_PIDS = 8;
    public static final long MIN_OUTPUT_BYTES = 1;
    public static final String PATH = "/usr/local/bin:/usr/bin:/bin";

    private static final Pattern ENV_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    private static final Pattern FILE_SEGMENT = Pattern.compile("[A-Za-z0-9._+@-][A-Za-z0-9._+@ -]{0,254}");

    private static final String IMAGE_FIELD = "image";

    private final SandboxConfig config;
    private final SecurityLevel minimumLevel;

    public RequestValidator(SandboxConfig config) {
        this(config, SecurityLevel.LOW);
    }

    /**
     * @param minimumLevel {@code security.minimum-level}: a request without a level gets this one when the
     *                     default is below it (one that asks for less is refused by the {@link RuntimeSelector})
     */
    public RequestValidator(SandboxConfig config, SecurityLevel minimumLevel) {
        this.config = config;
        this.minimumLevel = minimumLevel;
    }

    public ExecutionPlan validate(ExecutionRequest request) throws PolicyViolation {
        Map<String, byte[]> files = files(request.files());
        List<String> command;
        String image;
        if (request.isSnippet()) {
            if (!request.command().isEmpty()) {
                throw new PolicyViolation("command", "give either command, or language and code, not both");
            }
            LanguageSpec language = language(request.language());
            if (request.code() == null) {
                throw new PolicyViolation("code", "is required with language");
            }
            byte[] code = request.code().getBytes(StandardCharsets.UTF_8);
            if (code.length > MAX_CODE_BYTES) {
                throw new PolicyViolation("code",
                        code.length + " bytes exceeds the limit of " + MAX_CODE_BYTES + " bytes");
            }
            if (files.containsKey(language.fileName())) {
                throw new PolicyViolation("files",
                        "'" + language.fileName() + "' is where the code goes; rename that file");
            }
            files.put(language.fileName(), code);
            command = language.commandFor(SandboxSpec.WORKSPACE + "/" + language.fileName());
            image = request.image() != null ? request.image() : language.image();
        } else {
            command = command(request.command());
            image = request.image() != null ? request.image() : config.defaultImage();
        }
        byte[] stdin = request.stdin() == null ? null : request.stdin().getBytes(StandardCharsets.UTF_8);
        if (stdin != null && stdin.length > MAX_STDIN_BYTES) {
            throw new PolicyViolation("stdin",
                    stdin.length + " bytes exceeds the limit of " + MAX_STDIN_BYTES + " bytes");
        }
        ResourceLimits limits = limits(request.limits());
        long filesBytes = files.values().stream().mapToLong(b -> b.length).sum();
        if (filesBytes > limits.tmpBytes()) {
            throw new PolicyViolation("files", filesBytes + " bytes do not fit the /workspace size of "
                    + limits.tmpBytes() + " bytes");
        }
        SecurityLevel level = request.securityLevel() != null ? request.securityLevel()
                : SecurityLevel.DEFAULT.compareTo(minimumLevel) >= 0 ? SecurityLevel.DEFAULT : minimumLevel;
        String workDir = workDir(request.workDir());
        if (workDir.startsWith(SandboxSpec.WORKSPACE + "/")) {
            String relative = workDir.substring(SandboxSpec.WORKSPACE.length() + 1);
            for (String file : files.keySet()) {
                if (relative.equals(file) || relative.startsWith(file + "/")) {
                    throw new PolicyViolation("workDir", "'" + workDir + "' needs a directory where files has the "
                            + "file '" + file + "'");
                }
            }
        }
        return new ExecutionPlan(command, env(request.env()), workDir, image(image), level,
                request.securityLevel() != null, blankToNull(request.runtime()), limits, files, stdin);
    }

    /**
     * The image reference in its canonical form ({@code alpine} is {@code alpine:latest},
     * {@code docker.io/library/alpine:3.19} is {@code alpine:3.19}); what is recorded and resolved.
     */
    private static String image(String reference) throws PolicyViolation {
        try {
            return ImageReference.parse(IMAGE_FIELD, reference).toString();
        } catch (IllegalArgumentException e) {
            String m = e.getMessage();
            throw new PolicyViolation(IMAGE_FIELD, m.startsWith(IMAGE_FIELD + ": ")
                    ? m.substring(IMAGE_FIELD.length() + 2) : m);
        }
    }

    /** The configured snippet language of that name (trimmed, any case). */
    public LanguageSpec language(String name) throws PolicyViolation {
        if (name == null || name.isBlank()) {
            throw new PolicyViolation("language", "is required with code (supported: " + supported() + ")");
        }
        LanguageSpec spec = config.languages().get(name.trim().toLowerCase(Locale.ROOT));
        if (spec == null) {
            throw new PolicyViolation("language", "'" + name + "' is not supported (supported: " + supported() + ")");
        }
        return spec;
    }

    private String supported() {
        return String.join(", ", new TreeSet<>(config.languages().keySet()));
    }

    private static List<String> command(List<String> argv) throws PolicyViolation {
        if (argv.isEmpty() || argv.getFirst() == null || argv.getFirst().isBlank()) {
            throw new PolicyViolation("command", "is required (or give language and code)");
        }
        if (argv.size() > MAX_ARGS) {
            throw new PolicyViolation("command", argv.size() + " arguments exceed the limit of " + MAX_ARGS);
        }
        long bytes = 0;
        for (String arg : argv) {
            if (arg == null || arg.indexOf('\0') >= 0) {
                throw new PolicyViolation("command", "arguments must be strings without NUL characters");
            }
            bytes += arg.getBytes(StandardCharsets.UTF_8).length + 1;
        }
        if (bytes > MAX_ARGV_BYTES) {
            throw new PolicyViolation("command", bytes + " bytes exceed the limit of " + MAX_ARGV_BYTES + " bytes");
        }
        return argv;
    }

    private static Map<String, String> env(Map<String, String> requested) throws PolicyViolation {
        if (requested.size() > MAX_ENV_ENTRIES) {
            throw new PolicyViolation("env", requested.size() + " variables exceed the limit of " + MAX_ENV_ENTRIES);
        }
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PATH", PATH);
        env.put("HOME", SandboxSpec.WORKSPACE);
        long bytes = 0;
        for (Map.Entry<String, String> e : requested.entrySet()) {
            if (!ENV_NAME.matcher(e.getKey()).matches()) {
                throw new PolicyViolation("env", "'" + e.getKey() + "' is not a valid variable name");
            }
            if (e.getValue() == null || e.getValue().indexOf('\0') >= 0) {
                throw new PolicyViolation("env", "value of " + e.getKey() + " must be a string without NUL characters");
            }
            bytes += e.getKey().length() + e.getValue().getBytes(StandardCharsets.UTF_8).length + 2;
            env.put(e.getKey(), e.getValue());
        }
        if (bytes > MAX_ENV_BYTES) {
            throw new PolicyViolation("env", bytes + " bytes exceed the limit of " + MAX_ENV_BYTES + " bytes");
        }
        return env;
    }

    /**
     * The working directory must lie in the sandbox's own tmpfs (/workspace or /tmp): a runtime creates a
     * missing one before the root is read-only, so anywhere else it would land in the image root that every
     * execution shares. Checked strictly (no normalising), so what is checked is what the runtime enters.
     */
    static String workDir(String dir) throws PolicyViolation {
        if (dir == null || dir.isEmpty()) {
            return SandboxSpec.WORKSPACE;
        }
        String where = "must be /workspace or /tmp, or a directory under one of them (the sandbox's own tmpfs)";
        if (dir.getBytes(StandardCharsets.UTF_8).length > MAX_WORKDIR_BYTES) {
            throw new PolicyViolation("workDir", dir.getBytes(StandardCharsets.UTF_8).length
                    + " bytes exceed the limit of " + MAX_WORKDIR_BYTES + " bytes");
        }
        if (dir.codePoints().anyMatch(c -> Character.isISOControl(c) || c == 0x7f)) {
            throw new PolicyViolation("workDir", "must not contain NUL or control characters");
        }
        String shown = "'" + dir + "'";
        if (!dir.startsWith("/")) {
            throw new PolicyViolation("workDir", "must be an absolute path; " + where + "; got " + shown);
        }
        String[] segments = dir.substring(1).split("/", -1);
        for (String segment : segments) {
            if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
                throw new PolicyViolation("workDir", "must not contain empty, '.' or '..' components (nor a "
                        + "trailing '/'); " + where + "; got " + shown);
            }
            if (segment.getBytes(StandardCharsets.UTF_8).length > MAX_WORKDIR_SEGMENT_BYTES) {
                throw new PolicyViolation("workDir", "a component exceeds the limit of " + MAX_WORKDIR_SEGMENT_BYTES
                        + " bytes; got " + shown);
            }
        }
        String root = "/" + segments[0];
        if (!root.equals(SandboxSpec.WORKSPACE) && !root.equals(SandboxSpec.TMP)) {
            throw new PolicyViolation("workDir", where + "; got " + shown);
        }
        return dir;
    }

    private static Map<String, byte[]> files(Map<String, String> requested) throws PolicyViolation {
        if (requested.size() > MAX_FILES) {
            throw new PolicyViolation("files", requested.size() + " files exceed the limit of " + MAX_FILES);
        }
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (Map.Entry<String, String> f : requested.entrySet()) {
            String path = f.getKey();
            String[] segments = path.split("/", -1);
            boolean ok = !path.isEmpty() && path.length() <= 1024;
            for (String segment : segments) {
                ok &= FILE_SEGMENT.matcher(segment).matches() && !segment.equals(".") && !segment.equals("..");
            }
            if (!ok) {
                throw new PolicyViolation("files", "'" + path + "' is not a safe relative path (letters, digits, "
                        + "'._+@- ', segments separated by '/', no '.' or '..')");
            }
            if (f.getValue() == null) {
                throw new PolicyViolation("files", "content of '" + path + "' must be a string");
            }
            files.put(path, f.getValue().getBytes(StandardCharsets.UTF_8));
        }
        return files;
    }

    private ResourceLimits limits(LimitsRequest req) throws PolicyViolation {
        ResourceLimits def = config.defaultLimits();
        ResourceLimits max = config.maxLimits();
        Duration timeout = def.timeout();
        if (req.timeoutMs() != null) {
            timeout = Duration.ofMillis(within("timeoutMs", req.timeoutMs(), MIN_TIMEOUT_MS, max.timeout().toMillis(),
                    "limits.max.timeout = " + Units.formatDuration(max.timeout())));
        }
        long memory = req.memoryBytes() == null ? def.memoryBytes()
                : within("memoryBytes", req.memoryBytes(), MIN_MEMORY_BYTES, max.memoryBytes(),
                "limits.max.memory = " + Units.formatBytes(max.memoryBytes()));
        double cpus = def.cpus();
        if (req.cpus() != null) {
            if (req.cpus().isNaN() || req.cpus() < MIN_CPUS || req.cpus() > max.cpus()) {
                throw new PolicyViolation("cpus", req.cpus() + " is outside the allowed range " + MIN_CPUS + " to "
                        + max.cpus() + " (limits.max.cpus)");
            }
            cpus = req.cpus();
        }
        int pids = req.pids() == null ? def.pids()
                : (int) within("pids", req.pids(), MIN_PIDS, max.pids(), "limits.max.pids = " + max.pids());
        long output = req.outputBytes() == null ? def.outputBytes()
                : within("outputBytes", req.outputBytes(), MIN_OUTPUT_BYTES, max.outputBytes(),
                "limits.max.output = " + Units.formatBytes(max.outputBytes()));
        return new ResourceLimits(timeout, memory, cpus, pids, output, def.tmpBytes(), def.openFiles());
    }

    private static long within(String field, long value, long min, long max, String source) throws PolicyViolation {
        if (value < min || value > max) {
            throw new PolicyViolation(field, value + " is outside the allowed range " + min + " to " + max
                    + " (" + source + ")");
        }
        return value;
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s.trim();
    }
}
