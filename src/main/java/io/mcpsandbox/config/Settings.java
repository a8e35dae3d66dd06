package io.mcpsandbox.config;

import io.mcpsandbox.model.Units;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;

/**
 * One configuration key's value: the environment variable {@code MCP_SANDBOX_<KEY>} (dots and dashes as
 * underscores, upper case) wins over the properties file, which wins over the fallback.
 */
public record Settings(Properties file, Map<String, String> env) {
    public String string(String key, String fallback) {
        String value = env.get(envName(key));
        return value != null ? value : file.getProperty(key, fallback);
    }

    public static String envName(String key) {
        return "MCP_SANDBOX_" + key.toUpperCase(java.util.Locale.ROOT).replace('.', '_').replace('-', '_');
    }

    public Duration duration(String key, String fallback) {
        return Units.parseDuration(key, string(key, fallback));
    }

    public long bytes(String key, String fallback) {
        return Units.parseBytes(key, string(key, fallback));
    }

    public int integer(String key, String fallback) {
        try {
            return Integer.parseInt(string(key, fallback).trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + ": expected a whole number; got '" + string(key, fallback) + "'");
        }
    }

    /** A whole number that may exceed an int (a host uid). */
    public long longInteger(String key, String fallback) {
        try {
            return Long.parseLong(string(key, fallback).trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + ": expected a whole number; got '" + string(key, fallback) + "'");
        }
    }

    /** {@code true} or {@code false} (any case); anything else is an error naming the key. */
    public boolean bool(String key, String fallback) {
        String value = string(key, fallback).trim().toLowerCase(java.util.Locale.ROOT);
        return switch (value) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException(
                    key + ": expected true or false; got '" + string(key, fallback) + "'");
        };
    }

    public double decimal(String key, String fallback) {
        try {
            return Double.parseDouble(string(key, fallback).trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + ": expected a number; got '" + string(key, fallback) + "'");
        }
    }
}
