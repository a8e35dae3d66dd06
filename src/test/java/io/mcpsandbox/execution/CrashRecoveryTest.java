package io.mcpsandbox.execution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.runtime.oci.OciRuntime;
import io.mcpsandbox.testing.ChildJvm;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** A process running a sandbox is SIGKILLed; the next service start removes everything it left. */
@SystemTest
class CrashRecoveryTest {
    private TestSandbox sandbox;

    @BeforeEach
    void start() {
        sandbox = TestSandbox.start();
    }

    @AfterEach
    void stop() throws Exception {
        sandbox.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"runc", "runsc"})
    void aKilledOwnersSandboxIsReapedAndALiveOnesIsNot(String runtime) throws Exception {
        String marker = "crash-" + UUID.randomUUID();
        Process owner = cliExec(runtime, "sh", "-c", "sleep 1000; echo " + marker);
        OciRuntime oci = (OciRuntime) sandbox.services().registry().find(runtime).orElseThrow();
        await().atMost(Duration.ofSeconds(60)).until(() -> !oci.listContainers().isEmpty()
                && !TestSandbox.hostProcessesWith(marker).isEmpty());

        // A live sandbox of this process, running while the reaper works, must survive it.
        CompletableFuture<io.mcpsandbox.model.ExecutionResult> live = CompletableFuture.supplyAsync(() ->
                sandbox.run(ExecutionRequest.builder().runtime(runtime).command("sh", "-c", "sleep 15; echo alive")
                        .limits(new LimitsRequest(60_000L, null, null, null, null)).build()));
        await().atMost(Duration.ofSeconds(30)).until(() -> sandbox.services().executions().active().size() == 1
                && oci.listContainers().size() == 2);

        owner.destroyForcibly().waitFor();
        List<String> reaped = sandbox.services().reapLeftovers();

        assertThat(reaped).hasSize(1);
        assertThat(TestSandbox.hostProcessesWith(marker)).as("the crashed owner's program").isEmpty();
        assertThat(oci.listContainers()).as("only the live sandbox remains").hasSize(1);
        assertThat(live.get().status()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(live.get().stdout()).isEqualTo("alive\n");
        sandbox.assertNothingLeftBehind();
        assertThat(TestSandbox.leftoverCgroups().stream()
                .filter(p -> p.getFileName().toString().equals("mcp-exec-" + reaped.getFirst()))).isEmpty();
        try (Stream<Path> bundles = Files.list(sandbox.services().config().bundlesDir())) {
            assertThat(bundles.toList()).isEmpty();
        }
    }

    /** `mcp-sandbox exec` in its own JVM, sharing this test's data and state directories. */
    private Process cliExec(String runtime, String... argv) throws Exception {
        List<String> cmd = new ArrayList<>(ChildJvm.cli());
        cmd.addAll(List.of("exec", "--runtime", runtime, "--timeout", "5m", "--"));
        cmd.addAll(List.of(argv));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("MCP_SANDBOX_DATA_DIR", sandbox.services().config().dataDir().toString());
        pb.environment().put("MCP_SANDBOX_STATE_DIR", sandbox.services().config().stateDir().toString());
        // No owner watchdog: this test is about what the next process does with a dead owner's leftovers.
        pb.environment().put("MCP_SANDBOX_SANDBOX_WATCHDOG", "false");
        return pb.start();
    }
}
