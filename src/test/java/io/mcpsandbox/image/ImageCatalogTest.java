package io.mcpsandbox.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.model.RootFilesystem;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The catalog over real skopeo and umoci: import both archive kinds, list, resolve, allowlist, remove. */
class ImageCatalogTest {
    private static Path work;
    private static Path dockerArchive;
    private static Path ociArchive;

    @BeforeAll
    static void buildArchives() throws IOException {
        work = TestImages.workDir("mcp-image-test-");
        Path root = TestImages.busyboxRoot(work.resolve("root"), "from-busybox");
        TestImages.layout(root, work.resolve("layout"), "bb");
        dockerArchive = TestImages.dockerArchive(work.resolve("layout"), "bb", work.resolve("bb-docker.tar"));
        ociArchive = TestImages.ociArchive(work.resolve("layout"), "bb", work.resolve("bb-oci.tar"));
    }

    @AfterAll
    static void cleanUp() throws IOException {
        TestImages.deleteTree(work);
    }

    private static ImageCatalog newCatalog() throws IOException {
        Path images = Files.createDirectories(work.resolve("data-" + UUID.randomUUID()).resolve("images"));
        return new ImageCatalog(images, new HostImage(Path.of("/"), images));
    }

    @Test
    void importsADockerSaveArchiveAndAnOciArchiveAndListsThemWithTheBuiltInHost() throws Exception {
        ImageCatalog catalog = newCatalog();
        CatalogImage fromDocker = catalog.importArchive("bb", dockerArchive);
        CatalogImage fromOci = catalog.importArchive("bb-oci", ociArchive);
        assertThat(fromDocker.digest()).matches("sha256:[0-9a-f]{64}");
        assertThat(fromOci.digest()).matches("sha256:[0-9a-f]{64}");
        assertThat(fromDocker.unpacked()).isTrue();

        List<CatalogImage> list = catalog.list();
        assertThat(list).extracting(CatalogImage::name).containsExactly("host", "bb", "bb-oci");
        assertThat(list.getFirst().kind()).isEqualTo(CatalogImage.BUILTIN);
        assertThat(list.get(1).sizeBytes()).isPositive();

        for (CatalogImage image : List.of(fromDocker, fromOci)) {
            RootFilesystem fs = catalog.rootfs(image.name(), image.digest());
            assertThat(fs.binds()).isEmpty();
            assertThat(fs.image()).isEqualTo(image.name());
            Path root = fs.rootDir();
            assertThat(Files.readString(root.resolve("etc/marker"))).isEqualTo("from-busybox\n");
            assertThat(Files.isExecutable(root.resolve("bin/busybox"))).isTrue();
            for (String mp : List.of("proc", "dev", "sys", "tmp", "workspace")) {
                assertThat(Files.isDirectory(root.resolve(mp), LinkOption.NOFOLLOW_LINKS)).as(mp).isTrue();
            }
            assertThat(Files.getAttribute(root.resolve("tmp"), "unix:mode")).isEqualTo(0041777);
            Path init = root.resolve(RootFilesystem.INIT_MOUNT_POINT.substring(1));
            assertThat(Files.isRegularFile(init, LinkOption.NOFOLLOW_LINKS)).isTrue();
            assertThat(Files.size(init)).isZero();
            // Reachable by the sandbox's unprivileged, user-namespaced uids.
            assertThat(Files.getPosixFilePermissions(root.getParent()))
                    .containsAll(PosixFilePermissions.fromString("r-xr-xr-x"));
        }
    }

    @Test
    void removeDropsTheTagTheBlobsAndTheUnpackedRoot() throws Exception {
        ImageCatalog catalog = newCatalog();
        CatalogImage image = catalog.importArchive("gone", ociArchive);
        Path root = catalog.rootfs("gone", image.digest()).rootDir();
        catalog.remove("gone");
        assertThat(catalog.list()).extracting(CatalogImage::name).containsExactly("host");
        assertThat(root.getParent()).doesNotExist();
        try (Stream<Path> blobs = Files.list(catalog.layoutDir().resolve("blobs/sha256"))) {
            assertThat(blobs.toList()).as("blobs after gc").isEmpty();
        }
        assertThatThrownBy(() -> catalog.remove("gone")).hasMessageContaining("not in the catalog");
        assertThatThrownBy(() -> catalog.remove("host")).hasMessageContaining("built-in");
    }

    @Test
    void twoNamesForOneDigestShareTheUnpackedRootUntilTheLastIsRemoved() throws Exception {
        ImageCatalog catalog = newCatalog();
        CatalogImage a = catalog.importArchive("one", ociArchive);
        CatalogImage b = catalog.importArchive("two", ociArchive);
        assertThat(a.digest()).isEqualTo(b.digest());
        Path root = catalog.rootfs("one", a.digest()).rootDir();
        catalog.remove("one");
        assertThat(root).isDirectory();
        catalog.remove("two");
        assertThat(root).doesNotExist();
    }

    @Test
    void badInputIsRefusedWithAReason() throws Exception {
        ImageCatalog catalog = newCatalog();
        assertThatThrownBy(() -> catalog.importArchive("host", ociArchive)).hasMessageContaining("built-in");
        assertThatThrownBy(() -> catalog.importArchive("Bad Name", ociArchive)).hasMessageContaining("not valid");
        Path notTar = Files.writeString(work.resolve("not-a-tar"), "hello");
        assertThatThrownBy(() -> catalog.importArchive("x", notTar)).hasMessageContaining("not a tar archive");
        assertThatThrownBy(() -> catalog.importArchive("x", work.resolve("missing.tar"))).hasMessageContaining("not a file");
    }

    @Test
    void pullSaysClearlyWhenTheRegistryCannotBeReached() throws Exception {
        ImageCatalog catalog = newCatalog();
        assertThatThrownBy(() -> catalog.pull("127.0.0.1:9/library/alpine:3.20", null))
                .isInstanceOf(ImageCatalogException.class)
                .hasMessageContaining("cannot pull 127.0.0.1:9/library/alpine:3.20")
                .hasMessageContaining("registry cannot be reached");
        assertThat(catalog.list()).extracting(CatalogImage::name).containsExactly("host");
        assertThatThrownBy(() -> catalog.pull("--help", null)).hasMessageContaining("not an image reference");
    }

    @Test
    void hardeningRemovesDeviceNodesAndSetIdBitsAndReplacesPlantedSymlinks() throws Exception {
        Path root = Files.createDirectories(work.resolve("harden-" + UUID.randomUUID()));
        Files.createSymbolicLink(root.resolve("tmp"), Path.of("/etc"));
        Files.writeString(root.resolve("proc"), "not a dir");
        Path suid = Files.writeString(root.resolve("suid"), "x");
        Files.setAttribute(suid, "unix:mode", 04755);
        io.mcpsandbox.runtime.HostCommand.check(List.of("mknod", root.resolve("disk").toString(), "b", "8", "0"),
                java.time.Duration.ofSeconds(5));
        ImageCatalog.harden(root);
        assertThat(Files.isDirectory(root.resolve("tmp"), LinkOption.NOFOLLOW_LINKS)).isTrue();
        assertThat(Files.isDirectory(root.resolve("proc"), LinkOption.NOFOLLOW_LINKS)).isTrue();
        assertThat(root.resolve("disk")).doesNotExist();
        assertThat((Integer) Files.getAttribute(suid, "unix:mode") & 07777).isEqualTo(0755);
    }
}
