package io.mcpsandbox.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.model.RootFilesystem;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Where a writable root's overlay takes its lower layer from, and what it leaves alone. */
class WritableRootLowerTest {
    @TempDir
    Path dir;

    @Test
    void aTreeComesFromTheDeepestBindCoveringItElseFromTheRootDirectory() throws Exception {
        Path root = Files.createDirectories(dir.resolve("root"));
        Files.createDirectories(root.resolve("etc"));
        Path hostUsr = Files.createDirectories(dir.resolve("host-usr/local/lib"));
        RootFilesystem rootfs = new RootFilesystem("host", root,
                List.of(new RootFilesystem.HostBind(hostUsr.getParent().getParent(), "/usr")));
        assertThat(WritableRoot.lowerOf(rootfs, "/etc")).contains(root.resolve("etc"));
        assertThat(WritableRoot.lowerOf(rootfs, "/usr/local")).contains(dir.resolve("host-usr/local"));
    }

    @Test
    void aMissingTreeOrOneReachedThroughALinkStaysAsTheImageHasIt() throws Exception {
        Path root = Files.createDirectories(dir.resolve("root"));
        Path elsewhere = Files.createDirectories(dir.resolve("elsewhere"));
        Files.createSymbolicLink(root.resolve("opt"), elsewhere); // an image's /opt -> somewhere on the host
        Files.createDirectories(root.resolve("usr"));
        Files.createSymbolicLink(root.resolve("usr/local"), Path.of("/"));
        Files.writeString(root.resolve("srv"), "a file, not a directory");
        RootFilesystem rootfs = new RootFilesystem("img", root, List.of());
        assertThat(WritableRoot.lowerOf(rootfs, "/opt")).isEmpty();
        assertThat(WritableRoot.lowerOf(rootfs, "/usr/local")).isEmpty();
        assertThat(WritableRoot.lowerOf(rootfs, "/srv")).isEmpty();
        assertThat(WritableRoot.lowerOf(rootfs, "/home")).isEmpty();
    }

    @Test
    void aWritableRootWithoutACapIsRefused() {
        RootFilesystem rootfs = new RootFilesystem("img", dir, List.of());
        assertThatThrownBy(() -> WritableRoot.mount(dir.resolve("rw"), rootfs, 0, 100, 1000))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("size cap");
        assertThatThrownBy(() -> new SandboxSpec("mcp-exec-x", rootfs, null, java.util.Map.of(), -1))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
