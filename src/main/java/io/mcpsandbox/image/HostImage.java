package io.mcpsandbox.image;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.host.Sha256;
import io.mcpsandbox.model.RootFilesystem.HostBind;
import io.mcpsandbox.model.RootFilesystem;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The built-in {@code host} image: a root made of read-only binds of the host's /usr (and /bin, /lib*,
 * /sbin where they are not symlinks into /usr), and a generated minimal /etc. Languages are whatever the
 * host has installed. The skeleton directory holds only mount points, symlinks and /etc; it is built once
 * per distinct content (named by its hash) and shared read-only by all sandboxes.
 */
public final class HostImage {
    public static final String NAME = "host";

    private static final List<String> TOP_LEVEL = List.of("bin", "sbin", "lib", "lib32", "lib64", "libx32");
    /** Host /etc entries some runtimes need at run time (java's alternatives and conf, CA certificates). */
    private static final List<String> ETC_BINDS = List.of("alternatives", "ssl", "ca-certificates");
    /** Mount points, and the empty homes of a writable root's trees (see runtime.WritableRoot). */
    private static final List<String> MOUNT_POINTS = List.of("usr", "etc", "tmp", "proc", "dev", "sys", "workspace",
            "home", "opt", "root", "srv", "var");

    private final Path hostRoot;
    private final Path imagesDir;

    /** @param hostRoot "/" in production; tests may point elsewhere */
    public HostImage(Path hostRoot, Path imagesDir) {
        this.hostRoot = hostRoot;
        this.imagesDir = imagesDir;
    }

    /** The catalog directory this image's skeleton is built under ({@code <imagesDir>/host/<digest>}). */
    public Path imagesDir() {
        return imagesDir;
    }

    public RootFilesystem materialize() throws IOException {
        Layout layout = layout();
        Path dir = imagesDir.resolve(NAME).resolve(layout.digest());
        Path rootfs = dir.resolve("rootfs");
        if (!Files.isDirectory(rootfs)) {
            build(dir, layout);
        }
        return new RootFilesystem(NAME, rootfs, layout.binds());
    }

    private record Layout(Map<String, String> symlinks, List<String> dirs, Map<String, byte[]> files,
                          List<HostBind> binds, String digest) {
    }

    private Layout layout() throws IOException {
        Map<String, String> symlinks = new LinkedHashMap<>();
        List<String> dirs = new ArrayList<>(MOUNT_POINTS);
        List<HostBind> binds = new ArrayList<>();
        binds.add(new HostBind(hostRoot.resolve("usr"), "/usr"));
        for (String top : TOP_LEVEL) {
            Path host = hostRoot.resolve(top);
            if (Files.isSymbolicLink(host)) {
                symlinks.put(top, Files.readSymbolicLink(host).toString());
            } else if (Files.isDirectory(host)) {
                dirs.add(top);
                binds.add(new HostBind(host, "/" + top));
            }
        }
        List<String> etcBinds = new ArrayList<>(ETC_BINDS);
        try (Stream<Path> etc = Files.list(hostRoot.resolve("etc"))) {
            etc.map(p -> p.getFileName().toString()).filter(n -> n.matches("java-\\d+-openjdk")).sorted()
                    .forEach(etcBinds::add);
        }
        for (String name : etcBinds) {
            Path host = hostRoot.resolve("etc").resolve(name);
            if (Files.isDirectory(host) && !Files.isSymbolicLink(host)) {
                dirs.add("etc/" + name);
                binds.add(new HostBind(host, "/etc/" + name));
            }
        }
        Map<String, byte[]> files = generatedEtc();
        files.put(RootFilesystem.INIT_MOUNT_POINT.substring(1), new byte[0]);
        Path ldCache = hostRoot.resolve("etc/ld.so.cache");
        if (Files.isRegularFile(ldCache)) {
            files.put("etc/ld.so.cache", Files.readAllBytes(ldCache));
        }
        return new Layout(symlinks, dirs, files, binds, digest(symlinks, dirs, files, binds));
    }

    private static Map<String, byte[]> generatedEtc() {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("etc/passwd", text("""
                root:x:0:0:root:/root:/usr/sbin/nologin
                sandbox:x:1000:1000:sandbox:/workspace:/bin/sh
                nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
                """));
        files.put("etc/group", text("""
                root:x:0:
                tty:x:5:
                sandbox:x:1000:
                nogroup:x:65534:
                """));
        files.put("etc/hosts", text("127.0.0.1 localhost sandbox\n::1 localhost ip6-localhost\n"));
        files.put("etc/hostname", text("sandbox\n"));
        files.put("etc/nsswitch.conf", text("passwd: files\ngroup: files\nhosts: files\n"));
        files.put("etc/resolv.conf", text(""));
        return files;
    }

    private void build(Path dir, Layout layout) throws IOException {
        Files.createDirectories(dir);
        Path staging = Files.createTempDirectory(dir, "building-");
        try {
            // Traversable by the sandbox's (user-namespaced, unprivileged) root; the default is 0700.
            Files.setPosixFilePermissions(staging, PosixFilePermissions.fromString("rwxr-xr-x"));
            for (String d : layout.dirs()) {
                Files.createDirectories(staging.resolve(d));
            }
            // runc gives a tmpfs the mode of the directory it covers, whatever its mode= option says.
            Files.setAttribute(staging.resolve("tmp"), "unix:mode", 01777);
            for (Map.Entry<String, String> link : layout.symlinks().entrySet()) {
                Files.createSymbolicLink(staging.resolve(link.getKey()), Path.of(link.getValue()));
            }
            for (Map.Entry<String, byte[]> file : layout.files().entrySet()) {
                Path target = staging.resolve(file.getKey());
                Files.createDirectories(target.getParent());
                Files.write(target, file.getValue());
            }
            // Another process may have built the same content meanwhile: then ours is redundant.
            Files.move(staging, dir.resolve("rootfs"), StandardCopyOption.ATOMIC_MOVE);
        } catch (FileAlreadyExistsException | AtomicMoveNotSupportedException e) {
            DeleteTree.delete(staging);
        } catch (IOException e) {
            DeleteTree.delete(staging);
            if (!Files.isDirectory(dir.resolve("rootfs"))) {
                throw e;
            }
        }
    }

    private static String digest(Map<String, String> symlinks, List<String> dirs, Map<String, byte[]> files,
                                 List<HostBind> binds) {
        List<byte[]> parts = new ArrayList<>();
        parts.add((symlinks + "|" + dirs + "|" + binds + "|").getBytes(StandardCharsets.UTF_8));
        for (Map.Entry<String, byte[]> f : files.entrySet()) {
            parts.add(f.getKey().getBytes(StandardCharsets.UTF_8));
            parts.add(f.getValue());
        }
        return Sha256.hex(parts).substring(0, 16);
    }

    private static byte[] text(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
