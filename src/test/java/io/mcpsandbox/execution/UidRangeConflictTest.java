package io.mcpsandbox.execution;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.config.ConfigLoader;
import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.host.HostIdFiles;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Issue 10 item 6: when /etc/subuid (here a temporary copy) hands out a range inside the sandbox uid span, the
 * runtimes that map that span refuse to run sandboxes, with one line naming the file, the line and the span.
 */
@SystemTest
class UidRangeConflictTest {
    @Test
    void anOverlappingSubordinateRangeMakesTheUserNamespacedRuntimesRefuse() throws Exception {
        String id = UUID.randomUUID().toString().substring(0, 8);
        Path data = Path.of("/tmp", "mcp-sandbox-uidtest-" + id);
        Path state = Path.of("/run", "mcp-sandbox-uidtest-" + id);
        Path etc = Files.createTempDirectory("uid-etc-");
        try {
            Files.createDirectories(data);
            Files.setPosixFilePermissions(data, PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.writeString(etc.resolve("subuid"), "alice:100000:65536\nbob:1879113728:65536\n");
            HostIdFiles ids = new HostIdFiles(etc.resolve("subuid"), etc.resolve("subgid"), etc.resolve("passwd"),
                    etc.resolve("group"));
            var config = new ConfigLoader(Map.of(ConfigLoader.ENV_DATA_DIR, data.toString(),
                    "MCP_SANDBOX_STATE_DIR", state.toString())).load();
            String expected = "the sandbox uid range 1879048192-1912602623 "
                    + "(sandbox.uid-base, sandbox.uid-slots) overlaps "
                    + etc.resolve("subuid") + " line 2 'bob:1879113728:65536'";
            try (SandboxServices services = new SandboxServices(config, ids)) {
                // Docker sandboxes take their host uid from the same span: all four refuse.
                for (String runtime : TestSandbox.ALL_RUNTIMES) {
                    RuntimeInfo info = services.registry().info(services.registry().find(runtime).orElseThrow());
                    assertThat(info.usable()).as(runtime).isFalse();
                    assertThat(info.reason()).as(runtime).startsWith(expected).doesNotContain("\n");

                    ExecutionResult r = services.executions().execute(ExecutionRequest.builder()
                            .command("true").runtime(runtime).build());
                    assertThat(r.status()).as(runtime).isEqualTo(ExecutionStatus.REJECTED);
                    assertThat(r.reason()).as(runtime).contains(expected);
                }
            }
            assertThat(state.resolve("uid-slots")).as("no range was handed out").doesNotExist();
        } finally {
            DeleteTree.delete(data);
            DeleteTree.delete(state);
            DeleteTree.delete(etc);
        }
    }
}
