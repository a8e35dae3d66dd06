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
                uidBase(s), uidSlots(s),
                Path.of(s.string("sandbox.agent", SandboxConfig.DEFAULT_AGENT)),
                dlpMode(s.string("dlp.mode", "report")), s);
    }

    /**
     * 0x70000000 (with 512 slots up to 0x71FFFFFF): above every range useradd hands out in /etc/subuid and
     * /etc/subgid (SUB_UID_MAX 600100000 + 65536) and systemd's container ranges (524288-1879048191), below
     * systemd's foreign range (0x7FFE0000) and 2^31 (some tools take uid_t for signed); see
     * https://systemd.io/UIDS-GIDS/ and docs/security.md.
     */
    static final String DEFAULT_UID_BASE = "1879048192";
    static final String DEFAULT_UID_SLOTS = "512";
    private static final long UID_RANGE = 65536;
    /** The highest valid uid: 2^32-1 is (uid_t) -1. */
    private static final long MAX_UID = 4294967294L;

    private static long uidBase(Settings s) {
        long base = s.longInteger("sandbox.uid-base", DEFAULT_UID_BASE);
        long slots = uidSlots(s);
        if (base < UID_RANGE) {
            // A range from 0 would map a sandbox's root to the host's root and system users.
            throw new IllegalArgumentException("sandbox.uid-base: must be at least " + UID_RANGE + "; got " + base);
        }
        if (base + slots * UID_RANGE - 1 > MAX_UID) {
            throw new IllegalArgumentException("sandbox.uid-base: " + base + " + sandbox.uid-slots " + slots + " x "
                    + UID_RANGE + " ends above the highest uid " + MAX_UID);
        }
        return base;
    }

    private static int uidSlots(Settings s) {
        int slots = s.integer("sandbox.uid-slots", DEFAULT_UID_SLOTS);
        if (slots < 1 || slots > 65535) {
            throw new IllegalArgumentException("sandbox.uid-slots: must be 1 to 65535; got " + slots);
        }
        return slots;
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
        table.put(name, new LanguageSpec(name, s.string(prefix + "image", "host"), s.string(prefix + "file", file),
                argv));
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
