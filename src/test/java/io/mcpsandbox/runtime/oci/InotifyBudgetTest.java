package io.mcpsandbox.runtime.oci;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InotifyBudgetTest {
    @TempDir
    Path dir;

    private void limits(long instances, long watches) throws Exception {
        Files.writeString(dir.resolve("max_user_instances"), instances + "\n");
        Files.writeString(dir.resolve("max_user_watches"), watches + "\n");
    }

    @Test
    void debiansDefaultsCoverFourSandboxes() throws Exception {
        limits(128, 192530);
        assertThat(InotifyBudget.check(dir, 4)).isEmpty();
    }

    @Test
    void tooFewInstancesForTheConcurrencyIsSaidWithTheValueThatWouldDo() throws Exception {
        limits(128, 1_000_000);
        // 16 sandboxes x 8 instances would take all 128 of root's: 16 x 8 + 64 are needed.
        assertThat(InotifyBudget.check(dir, 16)).hasValueSatisfying(why -> assertThat(why)
                .contains("fs.inotify.max_user_instances=128").contains("max_user_instances >= 192")
                .contains("admission.max-concurrent"));
    }

    @Test
    void tooFewWatchesIsSaid() throws Exception {
        limits(100_000, 8192);
        assertThat(InotifyBudget.check(dir, 2)).hasValueSatisfying(why -> assertThat(why)
                .contains("max_user_watches >= " + 3 * 8192));
    }

    @Test
    void unreadableLimitsAreSaid() {
        assertThat(InotifyBudget.check(dir.resolve("missing"), 2)).hasValueSatisfying(why -> assertThat(why)
                .startsWith("cannot read the host's inotify limits"));
    }
}
