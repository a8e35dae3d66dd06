package io.mcpsandbox.testing;

import java.util.List;

/** How tests start mcp-sandbox in a JVM of its own, the way bin/mcp-sandbox does (without the jar). */
public final class ChildJvm {
    private ChildJvm() {
    }

    /** The java binary running this test. */
    public static String java() {
        return ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java");
    }

    /**
     * {@code java <flags> -cp <this classpath> io.mcpsandbox.cli.Main}: the flags are the launcher's
     * (sqlite-jdbc loads a native library, which JDK 24+ otherwise warns about on stderr).
     */
    public static List<String> cli() {
        return List.of(java(), "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                "io.mcpsandbox.cli.Main");
    }
}
