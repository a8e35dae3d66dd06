package io.mcpsandbox.runtime.oci;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@link OciSandbox#killChildren}: how close stops runc's container without a runtime call. */
class KillChildrenTest {
    @Test
    void killsTheDirectChildrenAndSparesTheParent() throws Exception {
        // the shell waits for its child and then reports how the child ended
        Process parent = new ProcessBuilder("/bin/sh", "-c", "sleep 60 & echo started; wait $!; echo child $?")
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            assertThat(new String(parent.getInputStream().readNBytes(8))).isEqualTo("started\n");
            assertThat(OciSandbox.killChildren(parent.pid())).isTrue();
            assertThat(parent.waitFor(10, TimeUnit.SECONDS)).as("the shell ends once its child is killed").isTrue();
            assertThat(new String(parent.getInputStream().readAllBytes())).isEqualTo("child 137\n"); // 128 + SIGKILL
            assertThat(parent.exitValue()).isZero();
        } finally {
            parent.destroyForcibly();
        }
    }

    @Test
    void aProcessThatIsGoneIsReportedAsUnknown() throws Exception {
        Process gone = new ProcessBuilder("/bin/true").start();
        gone.waitFor();
        assertThat(OciSandbox.killChildren(gone.pid())).isFalse();
    }
}
