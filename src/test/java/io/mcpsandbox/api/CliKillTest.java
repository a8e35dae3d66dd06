package io.mcpsandbox.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.execution.ExecutionListener;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.testing.ChildJvm;
import io.mcpsandbox.testing.SystemTest;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** `mcp-sandbox executions kill ID` against a running server: only the owner's key can kill it. */
@SystemTest
class CliKillTest {
    record Run(int exit, String out, String err) {
    }

    private static Run kill(ApiServerFixture fixture, String id, String key) throws Exception {
        List<String> argv = new ArrayList<>(ChildJvm.cli());
        argv.addAll(List.of("executions", "kill", id, "--server", fixture.url("")));
        ProcessBuilder pb = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("MCP_SANDBOX_API_KEY", key);
        Process p = pb.start();
        // Both pipes at once: a child that fills the one not being read would block forever.
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
        String out = readAll(p.getInputStream());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), out, err.get(60, TimeUnit.SECONDS));
    }

    private static String readAll(InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void theOwnerKillsARunningExecutionAndNobodyElseCan() throws Exception {
        try (ApiServerFixture fixture = ApiServerFixture.start()) {
            var started = fixture.api.gateway().start(ExecutionRequest.builder().command("sleep", "1000")
                    .userId("alice").build(), ExecutionListener.NONE).get();
            await().until(() -> !fixture.api.gateway().active("alice").isEmpty());

            Run stranger = kill(fixture, started.executionId(), ApiServerFixture.KEY_BOB);
            assertThat(stranger.exit()).isEqualTo(1);
            assertThat(stranger.err()).contains("no execution");

            Run owner = kill(fixture, started.executionId(), ApiServerFixture.KEY_ALICE);
            assertThat(owner.exit()).as(owner.err()).isZero();
            assertThat(owner.out()).contains("terminating " + started.executionId());
            ExecutionResult result = started.result().get(30, TimeUnit.SECONDS);
            assertThat(result.status()).isEqualTo(ExecutionStatus.TERMINATED);

            Run again = kill(fixture, started.executionId(), ApiServerFixture.KEY_ALICE);
            assertThat(again.exit()).isEqualTo(1);
            assertThat(again.err()).contains("already finished");
        }
    }
}
