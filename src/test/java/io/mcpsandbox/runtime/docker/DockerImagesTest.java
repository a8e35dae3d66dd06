package io.mcpsandbox.runtime.docker;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class DockerImagesTest {
    /**
     * Images already in a daemon were tagged with the first 32 hex digits of the SHA-256 of their root's
     * normalized absolute path: the same root must keep finding (and pruning) its image.
     */
    @Test
    void theTagOfARootIsStable() {
        // printf '/a/c' | sha256sum
        assertThat(DockerImages.tagFor(Path.of("/a/b/../c"))).isEqualTo("61f97427d95425dfafd2e5b80dbaf785");
    }
}
