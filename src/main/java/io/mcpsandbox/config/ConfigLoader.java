package io.mcpsandbox.config;

import io.mcpsandbox.model.ResourceLimits;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * Reads configuration from, in increasing precedence: built-in defaults, a properties file
 * ({@code MCP_SANDBOX_CONFIG}, else {@code <dataDir>/config.properties} when present), and environment
 * variables ({@code MCP_SANDBOX_*}). Keys are listed in docs/configuration.md.
 */
public final class ConfigLoader {
    public static final String ENV_DATA_DIR = "MCP_SANDBOX_DATA_DIR";
    public static final String ENV_CONFIG = "MCP_SANDBOX_CONFIG";
    public static final Path DEFAULT_DATA_DIR = Path.of("/var/lib/mcp-sandbox");

    private final Map<String, String> env;

    public ConfigLoader(Map<String, String> env) {
        this.env = env;
    }

    public SandboxConfig load() {
        Path dataDir = Path.of(env.getOrDefault(ENV_DATA_DIR, DEFAULT_DATA_DIR.toString())).toAbsolutePath();
        Settings s = settings(dataDir);

        long cores = Runtime.getRuntime().availableProcessors();
        ResourceLimits defaults = new ResourceLimits(
                s.duration("limits.default.timeout", "30s"),
                s.bytes("limits.default.memory", "256m"),
                s.decimal("limits.default.cpus", "1"),
                s.integer("limits.default.pids", "64"),
                s.bytes("limits.default.output", "10m"),
                s.bytes("limits.default.tmp", "64m"),
                s.integer("limits.default.open-files", "1024"));
        ResourceLimits max = new ResourceLimits(
                s.duration("limits.max.timeout", "10m"),
                s.bytes("limits.max.memory", "4g"),
                s.decimal("limits.max.cpus", Long.toString(cores)),
                s.integer("limits.max.pids", "1024"),
                s.bytes("limits.max.output", "64m"),
                // Requests cannot set these two: their maximum is the configured value.
                defaults.tmpBytes(),
                defaults.openFiles());

        // Read by the services later; parsed here too so a malformed value stops the service at start.
        ImageSettings.from(s);
        RuntimeSettings.from(s);
        String stateDir = s.string("state-dir", "/run/mcp-sandbox");
        return new SandboxConfig(dataDir, Path.of(stateDir), defaults, max,
                s.string("runtime.standard", "runc"), languages(s), s.string("image.default", "host"),
                s.integer("sandbox.uid-base", "200000"), s.integer("sandbox.uid-slots", "512"),
                Path.of(s.string("sandbox.init", "/usr/bin/tini-static")),
                dlpMode(s.string("dlp.mode", "report")), s);
    }

    private static io.mcpsandbox.model.DlpMode dlpMode(String text) {
        try {
            return io.mcpsandbox.model.DlpMode.parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("dlp.mode: expected report, redact or block; got '" + text + "'");
        }
    }

    private static Map<String, LanguageSpec> languages(Settings s) {
        Map<String, LanguageSpec> table = new LinkedHashMap<>();
        add(table, s, "python", "main.py", "python3 {file}");
        add(table, s, "node", "main.js", "node {file}");
        add(table, s, "sh", "main.sh", "sh {file}");
        add(table, s, "bash", "main.sh", "bash {file}");
        add(table, s, "java", "Main.java", "java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto {file}");
        // Aliases an agent is likely to send.
        table.put("python3", table.get("python"));
        table.put("javascript", table.get("node"));
        return table;
    }

    private static void add(Map<String, LanguageSpec> table, Settings s, String name, String file, String command) {
        String prefix = "language." + name + ".";
        List<String> argv = Arrays.asList(s.string(prefix + "command", command).trim().split("\\s+"));
        table.put(name, new LanguageSpec(name, s.string(prefix + "image", "host"), s.string(prefix + "file", file), argv));
    }

    /** The merged key lookup (environment over file), for other parts' settings (server, stores). */
    public Settings settings() {
        return settings(Path.of(env.getOrDefault(ENV_DATA_DIR, DEFAULT_DATA_DIR.toString())).toAbsolutePath());
    }

    private Settings settings(Path dataDir) {
        return new Settings(readFile(dataDir), env);
    }

    private Properties readFile(Path dataDir) {
        Properties props = new Properties();
        String explicit = env.get(ENV_CONFIG);
        Path path = explicit != null ? Path.of(explicit) : dataDir.resolve("config.properties");
        if (explicit == null && !Files.isRegularFile(path)) {
            return props;
        }
        try (Reader reader = Files.newBufferedReader(path)) {
            props.load(reader);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read config file " + path + ": " + e.getMessage(), e);
        }
        return props;
    }
}
