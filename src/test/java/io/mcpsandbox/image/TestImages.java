package io.mcpsandbox.image;

import io.mcpsandbox.host.HostCommand;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;

/**
 * Test images built from what is on the machine: a busybox-static root put into an OCI layout with umoci,
 * then written as a {@code docker save}-format archive and as an OCI archive by skopeo.
 */
public final class TestImages {
    private static final Duration T = Duration.ofMinutes(2);

    private TestImages() {
    }

    /** A temporary directory searchable by every user (sandboxes run as unprivileged uids). */
    public static Path workDir(String prefix) throws IOException {
        Path dir = Files.createTempDirectory(prefix);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        return dir;
    }

    /** A busybox image ({@code marker} in /etc/marker) as an OCI archive, built under {@code work/<tag>-*}. */
    public static Path busyboxOciArchive(Path work, String tag, String marker) throws IOException {
        Path root = busyboxRoot(work.resolve(tag + "-root"), marker);
        layout(root, work.resolve(tag + "-layout"), tag);
        return ociArchive(work.resolve(tag + "-layout"), tag, work.resolve(tag + ".tar"));
    }

    /** A root with /bin/busybox (static) and applet links, and {@code marker} in /etc/marker. */
    public static Path busyboxRoot(Path dir, String marker) throws IOException {
        Path bin = dir.resolve("bin");
        Files.createDirectories(bin);
        Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
        for (String applet : List.of("sh", "echo", "cat", "ls", "id", "true", "false", "sleep", "env", "head", "dd",
                "yes", "mkdir", "touch", "wc", "grep", "stat", "kill", "setsid", "ps", "mount")) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        Files.createDirectories(dir.resolve("etc"));
        Files.writeString(dir.resolve("etc/marker"), marker + "\n");
        return dir;
    }

    /** An OCI layout at {@code layout} with tag {@code tag} holding {@code root}. */
    public static void layout(Path root, Path layout, String tag) throws IOException {
        HostCommand.check(List.of("umoci", "init", "--layout", layout.toString()), T);
        HostCommand.check(List.of("umoci", "new", "--image", layout + ":" + tag), T);
        HostCommand.check(List.of("umoci", "insert", "--image", layout + ":" + tag, root.toString(), "/"), T);
    }

    public static Path dockerArchive(Path layout, String tag, Path archive) throws IOException {
        HostCommand.check(List.of("skopeo", "copy", "--quiet", "oci:" + layout + ":" + tag,
                "docker-archive:" + archive + ":mcptest/" + tag + ":latest"), T);
        return archive;
    }

    public static Path ociArchive(Path layout, String tag, Path archive) throws IOException {
        HostCommand.check(List.of("skopeo", "copy", "--quiet", "oci:" + layout + ":" + tag,
                "oci-archive:" + archive + ":" + tag), T);
        return archive;
    }
}
