package io.mcpsandbox.host;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.testing.SystemTest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The system calls of {@link Libc} as root: a tmpfs mounted with its options, and unmounted. */
@SystemTest
class LibcMountTest {
    @TempDir
    Path dir;

    @AfterEach
    void unmountLeftovers() throws IOException {
        if (mountLine(dir.resolve("m")) != null) {
            Libc.umount(dir.resolve("m"), Libc.MNT_DETACH);
        }
    }

    @Test
    void mountsATmpfsWithItsOptionsAndUnmountsIt() throws IOException {
        Path point = Files.createDirectory(dir.resolve("m"));
        Libc.mount("mcp-test", point, "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV,
                "size=1048576,nr_inodes=64,mode=0700,uid=4242,gid=4242");

        String line = mountLine(point);
        assertThat(line).startsWith("mcp-test " + point + " tmpfs ")
                .contains("nosuid", "nodev", "size=1024k", "nr_inodes=64", "mode=700", "uid=4242", "gid=4242");
        assertThat(Files.getAttribute(point, "unix:uid", LinkOption.NOFOLLOW_LINKS)).isEqualTo(4242);

        Libc.umount(point, 0);
        assertThat(mountLine(point)).isNull();
    }

    @Test
    void aBusyMountIsRefusedThenDetachedLazily() throws IOException {
        Path point = Files.createDirectory(dir.resolve("m"));
        Libc.mount("mcp-test", point, "tmpfs", 0, "size=65536");
        Files.writeString(point.resolve("held"), "x");
        try (var held = Files.newInputStream(point.resolve("held"))) {
            assertThatThrownBy(() -> Libc.umount(point, 0)).isInstanceOf(IOException.class)
                    .hasMessage("umount " + point + " failed: Device or resource busy (errno 16)");
            Libc.umount(point, Libc.MNT_DETACH);
            assertThat(mountLine(point)).isNull();
            assertThat(held.read()).isEqualTo('x'); // still readable: detached, not gone
        }
    }

    @Test
    void aBadOptionNamesTheCallAndTheErrno() throws IOException {
        Path point = Files.createDirectory(dir.resolve("m"));
        assertThatThrownBy(() -> Libc.mount("mcp-test", point, "tmpfs", 0, "size=nonsense"))
                .isInstanceOf(IOException.class)
                .hasMessage("mount -t tmpfs -o size=nonsense mcp-test " + point
                        + " failed: Invalid argument (errno 22)");
    }

    @Test
    void unmountNeverFollowsALink() throws IOException {
        Path point = Files.createDirectory(dir.resolve("m"));
        Libc.mount("mcp-test", point, "tmpfs", 0, "size=65536");
        Path link = Files.createSymbolicLink(dir.resolve("link"), point);
        assertThatThrownBy(() -> Libc.umount(link, 0)).isInstanceOf(IOException.class)
                .hasMessageContaining("Invalid argument");
        assertThat(mountLine(point)).isNotNull();
    }

    @Test
    void makesAFifoAndRefusesAnExistingPath() throws IOException {
        Path fifo = dir.resolve("f.fifo");
        Libc.mkfifo(fifo, 0600);
        assertThat(Files.isRegularFile(fifo, LinkOption.NOFOLLOW_LINKS)).isFalse();
        assertThat(Files.getAttribute(fifo, "unix:mode", LinkOption.NOFOLLOW_LINKS)).isEqualTo(0010600);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(fifo))).isEqualTo("rw-------");
        assertThatThrownBy(() -> Libc.mkfifo(fifo, 0600)).isInstanceOf(IOException.class)
                .hasMessage("mkfifo " + fifo + " failed: File exists (errno 17)");
    }

    private static String mountLine(Path point) throws IOException {
        List<String> lines = Files.readAllLines(Path.of("/proc/self/mounts"));
        return lines.stream().filter(l -> l.split(" ")[1].equals(point.toString())).findFirst().orElse(null);
    }
}
