package io.mcpsandbox.testing;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.Tag;

/**
 * Marks a test class that needs more than a plain JVM: root, a sandbox runtime (runc, runsc), a daemon
 * (dockerd, Redis), the Node MCP clients, or a child process of mcp-sandbox. The fast tier
 * ({@code ./bin/test --fast}) leaves these out; {@code .ci/run} runs everything.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Tag(SystemTest.TAG)
public @interface SystemTest {
    String TAG = "system";
}
