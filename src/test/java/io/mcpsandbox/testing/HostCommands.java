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

    /**
     * A network namespace joined to the host by a veth pair: {@code hostAddress/30} on the host's side,
     * {@code address/30} and loopback up inside. The caller checks the route and removes both.
     */
    public static void namespaceWithVeth(String namespace, String hostVeth, String nsVeth, String hostAddress,
                                         String address) throws IOException {
        run("ip", "netns", "add", namespace);
        run("ip", "link", "add", hostVeth, "type", "veth", "peer", "name", nsVeth);
        run("ip", "link", "set", nsVeth, "netns", namespace);
        run("ip", "addr", "add", hostAddress + "/30", "dev", hostVeth);
        run("ip", "link", "set", hostVeth, "up");
        run("ip", "netns", "exec", namespace, "ip", "addr", "add", address + "/30", "dev", nsVeth);
        run("ip", "netns", "exec", namespace, "ip", "link", "set", nsVeth, "up");
        run("ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up");
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
