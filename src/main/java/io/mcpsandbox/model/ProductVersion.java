package io.mcpsandbox.model;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * The product's name and version, in one place: the version is the pom's, written into version.properties by
 * the build. {@code --version}, the MCP server info and the Docker client's User-Agent read it from here.
 */
public final class ProductVersion {
    public static final String NAME = "mcp-sandbox";
    static final String RESOURCE = "/io/mcpsandbox/version.properties";
    public static final String VERSION = load();

    private ProductVersion() {
    }

    /** {@code mcp-sandbox 0.1.0}: how the product names itself (--version, User-Agent as name/version). */
    public static String nameAndVersion() {
        return NAME + " " + VERSION;
    }

    private static String load() {
        try (InputStream in = ProductVersion.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(RESOURCE + " is missing from the classpath (build with Maven)");
            }
            Properties p = new Properties();
            p.load(in);
            String version = p.getProperty("version", "");
            // An unfiltered copy (a build that skipped Maven's resources phase) must not pass for a version.
            if (version.isBlank() || version.contains("${")) {
                throw new IllegalStateException(RESOURCE + " holds no version: '" + version + "'");
            }
            return version;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
