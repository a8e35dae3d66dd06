package io.mcpsandbox.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.api.mcp.McpServers;
import io.mcpsandbox.model.ProductVersion;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Issue 15 item 8: one version, the pom's, in --version and the MCP server info alike. */
class VersionTest {
    /** The project's own version in pom.xml (the first {@code <version>} after its artifactId). */
    private static String pomVersion() throws Exception {
        String pom = Files.readString(Path.of("pom.xml"));
        Matcher m = Pattern.compile("<artifactId>mcp-sandbox</artifactId>\\s*<version>([^<]+)</version>").matcher(pom);
        assertThat(m.find()).as("the project's version in pom.xml").isTrue();
        return m.group(1);
    }

    @Test
    void theResourceHoldsThePomsVersionFilledInByTheBuild() throws Exception {
        Properties p = new Properties();
        try (InputStream in = ProductVersion.class.getResourceAsStream("/io/mcpsandbox/version.properties")) {
            assertThat(in).as("version.properties on the classpath").isNotNull();
            p.load(in);
        }
        assertThat(p.getProperty("version")).isEqualTo(pomVersion()).doesNotContain("${");
        assertThat(ProductVersion.VERSION).isEqualTo(pomVersion());
    }

    @Test
    void versionOptionPrintsTheProductVersion() {
        StringWriter out = new StringWriter();
        int exit = new CommandLine(new Main()).setOut(new PrintWriter(out)).execute("--version");
        assertThat(exit).isZero();
        assertThat(out.toString().strip()).isEqualTo("mcp-sandbox " + ProductVersion.VERSION);
    }

    @Test
    void mcpServerInfoNamesTheSameVersion() {
        assertThat(McpServers.NAME).isEqualTo("mcp-sandbox");
        assertThat(McpServers.VERSION).isEqualTo(ProductVersion.VERSION);
    }
}
