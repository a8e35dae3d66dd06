package io.mcpsandbox.execution;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.runtime.SandboxExit;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** How a sandbox run's end becomes the result's status, exit code and reason; no sandbox runs here. */
class ExitClassificationTest {
    private static final ResourceLimits LIMITS = new ResourceLimits(Duration.ofMillis(1500), 64L << 20, 1.0, 32,
            4096, 16L << 20, 256);
    private static final int SIGKILL = 128 + 9;
    private static final int SIGTERM = 128 + 15;

    private static SandboxExit exited(Integer code) {
        return new SandboxExit(code, 12, 3456, false, false, null);
    }

    private static SandboxExit oomKilled(Integer code) {
        return new SandboxExit(code, 12, 64L << 20, true, false, null);
    }

    /** Nothing the service did to the run: it ended on its own. */
    private static ExitClassification ended(SandboxExit exit) {
        return ExitClassification.of(exit, false, false, false, LIMITS);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 126, 127, 255})
    void aProgramThatExitsOnItsOwnCompletedWithItsExitCode(int code) {
        ExitClassification c = ended(exited(code));

        assertThat(c.status()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(c.exitCode()).isEqualTo(code);
        assertThat(c.reason()).isNull();
    }

    @ParameterizedTest
    @ValueSource(ints = {128 + 1, 128 + 6, 128 + 9, 128 + 11, 128 + 15})
    void aProgramKilledByASignalCompletedWith128PlusTheSignal(int code) {
        ExitClassification c = ended(exited(code));

        assertThat(c.status()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(c.exitCode()).isEqualTo(code);
        assertThat(c.reason()).isNull();
    }

    @Test
    void sigkillFromTheOomKillerIsOomKilled() {
        ExitClassification c = ended(oomKilled(SIGKILL));

        assertThat(c.status()).isEqualTo(ExecutionStatus.OOM_KILLED);
        assertThat(c.exitCode()).isEqualTo(SIGKILL);
        assertThat(c.reason()).isEqualTo("killed for exceeding the memory limit of " + (64L << 20) + " bytes");
    }

    @Test
    void sigkillWithoutTheOomKillerIsNotOomKilled() {
        ExitClassification c = ended(exited(SIGKILL));

        assertThat(c.status()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(c.exitCode()).isEqualTo(SIGKILL);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, SIGTERM})
    void anOomKillOfAChildWhileTheProgramEndsOtherwiseIsNotOomKilled(int code) {
        ExitClassification c = ended(oomKilled(code));

        assertThat(c.status()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(c.exitCode()).isEqualTo(code);
    }

    @Test
    void anOomKillWithoutAnExitCodeIsNotOomKilled() {
        assertThat(ended(oomKilled(null)).status()).isEqualTo(ExecutionStatus.COMPLETED);
    }

    @Test
    void aRuntimeFailureIsAnErrorWithTheFailureAsReason() {
        ExitClassification c = ended(SandboxExit.failed("runc state: no such container"));

        assertThat(c.status()).isEqualTo(ExecutionStatus.ERROR);
        assertThat(c.exitCode()).isNull();
        assertThat(c.reason()).isEqualTo("runc state: no such container");
    }

    @Test
    void aRuntimeFailureWinsOverAnOomKill() {
        SandboxExit exit = new SandboxExit(SIGKILL, 0, 0, true, false, "lost the container");

        assertThat(ended(exit).status()).isEqualTo(ExecutionStatus.ERROR);
    }

    @Test
    void theDeadlineMakesATimeoutWhateverTheExit() {
        for (SandboxExit exit : new SandboxExit[] {exited(SIGKILL), exited(0), exited(1), oomKilled(SIGKILL),
                SandboxExit.failed("killed")}) {
            ExitClassification c = ExitClassification.of(exit, false, true, false, LIMITS);

            assertThat(c.status()).as("%s", exit).isEqualTo(ExecutionStatus.TIMEOUT);
            assertThat(c.exitCode()).as("%s", exit).isEqualTo(exit.exitCode());
            assertThat(c.reason()).isEqualTo("exceeded the timeout of 1500 ms; every process was killed");
        }
    }

    @Test
    void theOutputCapMakesAnOutputLimitWhateverTheExit() {
        for (SandboxExit exit : new SandboxExit[] {exited(SIGKILL), exited(0), oomKilled(SIGKILL),
                SandboxExit.failed("killed")}) {
            ExitClassification c = ExitClassification.of(exit, false, false, true, LIMITS);

            assertThat(c.status()).as("%s", exit).isEqualTo(ExecutionStatus.OUTPUT_LIMIT);
            assertThat(c.exitCode()).as("%s", exit).isEqualTo(exit.exitCode());
            assertThat(c.reason()).isEqualTo("output exceeded 4096 bytes; the sandbox was killed");
        }
    }

    @Test
    void theDeadlineWinsOverTheOutputCap() {
        assertThat(ExitClassification.of(exited(SIGKILL), false, true, true, LIMITS).status())
                .isEqualTo(ExecutionStatus.TIMEOUT);
    }

    @Test
    void terminateWinsOverEverything() {
        for (boolean timedOut : new boolean[] {false, true}) {
            for (boolean outputLimitHit : new boolean[] {false, true}) {
                for (SandboxExit exit : new SandboxExit[] {exited(SIGKILL), exited(0), oomKilled(SIGKILL),
                        SandboxExit.failed("killed")}) {
                    ExitClassification c = ExitClassification.of(exit, true, timedOut, outputLimitHit, LIMITS);

                    assertThat(c.status()).as("%s timedOut=%s outputLimitHit=%s", exit, timedOut, outputLimitHit)
                            .isEqualTo(ExecutionStatus.TERMINATED);
                    assertThat(c.exitCode()).isEqualTo(exit.exitCode());
                    assertThat(c.reason()).isEqualTo("terminated on request");
                }
            }
        }
    }
}
