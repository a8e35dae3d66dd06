package io.mcpsandbox.testing;

import io.mcpsandbox.host.HostCommand;
import java.io.IOException;
import java.time.Duration;
import java.util.List;

/** Host tools a test runs to build its fixtures (ip, openssl): 30 s each, the output, a failure says why. */
public final class HostCommands {
    private HostCommands() {
    }

    /** Runs {@code command} and returns its stdout; fails with its stderr. */
    public static String run(String... command) throws IOException {
        return HostCommand.check(List.of(command), Duration.ofSeconds(30));
    }

    /** For cleanup: runs {@code command}, and only says so on stderr when it fails. */
    public static void runQuietly(String... command) {
        try {
            run(command);
        } catch (IOException | RuntimeException e) {
            System.err.println("cleanup: " + e.getMessage());
        }
    }
}
