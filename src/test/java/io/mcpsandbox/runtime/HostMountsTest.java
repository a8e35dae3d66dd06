package io.mcpsandbox.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class HostMountsTest {
    private static final List<String> MOUNTINFO = List.of(
            "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw",
            "30 22 0:25 / /usr/lib/deep/er rw shared:5 - tmpfs tmpfs rw",
            "31 22 0:26 / /usr/local rw shared:6 - tmpfs tmpfs rw",
            "32 22 0:27 / /usr rw shared:7 - tmpfs tmpfs rw",
            "33 22 0:28 / /usr2/x rw shared:8 - tmpfs tmpfs rw",
            "34 22 0:29 / /usr/with\\040space rw shared:9 - tmpfs tmpfs rw");

    @Test
    void findsEverySubmountParentsFirstAndNothingBesideIt() {
        assertThat(HostMounts.submountsUnder(Path.of("/usr"), MOUNTINFO))
                .containsExactly("local", "with space", "lib/deep/er");
    }

    @Test
    void aDirectoryWithoutSubmountsHasNone() {
        assertThat(HostMounts.submountsUnder(Path.of("/etc"), MOUNTINFO)).isEmpty();
    }

    @Test
    void readsTheRealMountTable() {
        assertThat(HostMounts.submountsUnder(Path.of("/"))).isNotEmpty();
    }
}
