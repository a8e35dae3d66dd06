package io.mcpsandbox.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.testing.SystemTest;
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
@SystemTest
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
        DeleteTree.delete(work);
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
        assertThat(list).extracting(CatalogImage::name).containsExactly("host", "bb-oci:latest", "bb:latest");
        assertThat(list.getFirst().kind()).isEqualTo(CatalogImage.BUILTIN);
        assertThat(list.get(1).sizeBytes()).isPositive();

        for (CatalogImage image : List.of(fromDocker, fromOci)) {
            RootFilesystem fs = catalog.rootfs(image.name(), image.digest());
            assertThat(fs.binds()).isEmpty();
            assertThat(fs.image()).isEqualTo(image.name()).endsWith(":latest");
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
        assertThatThrownBy(() -> catalog.importArchive("host:latest", ociArchive)).hasMessageContaining("built-in");
        assertThatThrownBy(() -> catalog.importArchive("Bad Name", ociArchive))
                .hasMessageContaining("NAME: 'Bad Name' is not a valid image reference");
        Path notTar = Files.writeString(work.resolve("not-a-tar"), "hello");
        assertThatThrownBy(() -> catalog.importArchive("x", notTar)).hasMessageContaining("not a tar archive");
        assertThatThrownBy(() -> catalog.importArchive("x", work.resolve("missing.tar")))
                .hasMessageContaining("not a file");
    }

    @Test
    void pullSaysClearlyWhenTheRegistryCannotBeReached() throws Exception {
        ImageCatalog catalog = newCatalog();
        assertThatThrownBy(() -> catalog.pull("127.0.0.1:9/library/alpine:3.20", null))
                .isInstanceOf(ImageCatalogException.class)
                .hasMessageContaining("cannot pull 127.0.0.1:9/library/alpine:3.20")
                .hasMessageContaining("registry cannot be reached");
        assertThat(catalog.list()).extracting(CatalogImage::name).containsExactly("host");
        assertThatThrownBy(() -> catalog.pull("--help", null))
                .hasMessageContaining("REF: '--help' is not a valid image reference");
    }

    @Test
    void dockerStyleNamesImportListResolveAndRemove() throws Exception {
        ImageCatalog catalog = newCatalog();
        CatalogImage alpine = catalog.importArchive("alpine:3.19", ociArchive);
        CatalogImage tool = catalog.importArchive("ghcr.io/org/tool:1.2", dockerArchive);
        CatalogImage python = catalog.importArchive("docker.io/library/python:3.11-slim", ociArchive);
        CatalogImage local = catalog.importArchive("localhost:5000/a__b/c---d", ociArchive);
        assertThat(alpine.name()).isEqualTo("alpine:3.19");
        assertThat(tool.name()).isEqualTo("ghcr.io/org/tool:1.2");
        assertThat(python.name()).isEqualTo("python:3.11-slim");
        assertThat(local.name()).isEqualTo("localhost:5000/a__b/c---d:latest");
        assertThat(catalog.list()).extracting(CatalogImage::name).containsExactly("host", "alpine:3.19",
                "ghcr.io/org/tool:1.2", "localhost:5000/a__b/c---d:latest", "python:3.11-slim");
        // Every spelling of one name finds it.
        assertThat(catalog.digest("docker.io/library/alpine:3.19")).contains(alpine.digest());
        assertThat(catalog.digest("python:3.11-slim")).contains(python.digest());
        assertThat(catalog.rootfs("alpine:3.19", alpine.digest()).rootDir().resolve("etc/marker")).exists();
        assertThat(catalog.rootfs("index.docker.io/library/alpine:3.19", alpine.digest()).image())
                .isEqualTo("alpine:3.19");
        // No name reaches the layout unescaped: its tags are [a-z0-9_] only, and no file is named after one.
        String index = Files.readString(catalog.layoutDir().resolve("index.json"));
        assertThat(index).contains("\"alpine_3a3_2e19\"").doesNotContain("alpine:3.19").doesNotContain("ghcr.io");
        try (Stream<Path> files = Files.walk(catalog.layoutDir().getParent())) {
            assertThat(files.map(p -> p.getFileName().toString()))
                    .noneMatch(f -> f.contains("alpine") || f.contains("tool") || f.contains("python"));
        }
        catalog.remove("docker.io/library/alpine:3.19");
        catalog.remove("ghcr.io/org/tool:1.2");
        assertThat(catalog.list()).extracting(CatalogImage::name).containsExactly("host",
                "localhost:5000/a__b/c---d:latest", "python:3.11-slim");
        assertThatThrownBy(() -> catalog.remove("alpine:3.19"))
                .hasMessageContaining("'alpine:3.19' is not in the catalog");
    }

    @Test
    void aMissingTagIsLatest() throws Exception {
        ImageCatalog catalog = newCatalog();
        CatalogImage image = catalog.importArchive("alpine", ociArchive);
        assertThat(image.name()).isEqualTo("alpine:latest");
        assertThat(catalog.digest("alpine")).contains(image.digest());
        assertThat(catalog.digest("alpine:latest")).contains(image.digest());
        assertThat(catalog.digest("docker.io/library/alpine")).contains(image.digest());
        assertThat(catalog.importArchive("alpine:latest", dockerArchive).name()).isEqualTo("alpine:latest");
        assertThat(catalog.list()).extracting(CatalogImage::name).containsExactly("host", "alpine:latest");
        catalog.remove("alpine");
        assertThat(catalog.list()).extracting(CatalogImage::name).containsExactly("host");
    }

    @Test
    void aDigestInTheNameMustMatchTheStoredImage() throws Exception {
        ImageCatalog catalog = newCatalog();
        CatalogImage first = catalog.importArchive("tool:1", ociArchive);
        String wrong = "sha256:" + "0".repeat(64);
        // The docker archive converts to another manifest: refused, and tool:1 keeps its image.
        assertThatThrownBy(() -> catalog.importArchive("tool:1@" + wrong, dockerArchive))
                .isInstanceOf(ImageCatalogException.class)
                .hasMessageContaining("not " + wrong + " as the name 'tool:1@" + wrong + "' requires")
                .hasMessageContaining("nothing was stored");
        assertThat(catalog.digest("tool:1")).contains(first.digest());
        assertThat(Files.readString(catalog.layoutDir().resolve("index.json"))).doesNotContain("Staging-");
        assertThat(catalog.importArchive("tool:2@" + first.digest(), ociArchive).name()).isEqualTo("tool:2");
        assertThatThrownBy(() -> catalog.remove("tool:1@" + wrong)).hasMessageContaining("has digest "
                + first.digest() + ", not " + wrong);
        catalog.remove("tool:1@" + first.digest());
        assertThat(catalog.list()).extracting(CatalogImage::name).containsExactly("host", "tool:2");
    }

    @Test
    void namesThatCouldBePathsOrAreMalformedAreRefusedWithTheRule() throws Exception {
        ImageCatalog catalog = newCatalog();
        assertThatThrownBy(() -> catalog.importArchive("../../etc:1", ociArchive))
                .hasMessageContaining("NAME: '../../etc:1' is not a valid image reference: '..' is not a path "
                        + "component");
        assertThatThrownBy(() -> catalog.importArchive("Alpine:3.19", ociArchive))
                .hasMessageContaining("the repository must be lower-case");
        assertThatThrownBy(() -> catalog.importArchive("alpine@sha256:abc", ociArchive))
                .hasMessageContaining("the digest must be sha256:<64 lower-case hex digits>");
        assertThatThrownBy(() -> catalog.importArchive("a".repeat(256), ociArchive))
                .hasMessageContaining("256 characters; the limit is 255");
        assertThatThrownBy(() -> catalog.remove("../x")).hasMessageContaining("'..' is not a path component");
        assertThat(catalog.list()).extracting(CatalogImage::name).containsExactly("host");
    }

    @Test
    void aTagWrittenBeforeNamesWereEscapedIsReadAsAReferenceAndReplacedOnReimport() throws Exception {
        ImageCatalog catalog = newCatalog();
        catalog.importArchive("x:1", ociArchive);
        io.mcpsandbox.host.HostCommand.check(List.of("umoci", "tag", "--image",
                catalog.layoutDir() + ":x_3a1", "python-3.11-slim"), java.time.Duration.ofSeconds(30));
        assertThat(catalog.list()).extracting(CatalogImage::name).containsExactly("host", "python-3.11-slim:latest",
                "x:1");
        catalog.importArchive("python-3.11-slim", dockerArchive);
        String index = Files.readString(catalog.layoutDir().resolve("index.json"));
        assertThat(index).contains("python_2d3_2e11_2dslim_3alatest").doesNotContain("\"python-3.11-slim\"");
        catalog.remove("python-3.11-slim");
        assertThat(catalog.list()).extracting(CatalogImage::name).containsExactly("host", "x:1");
    }

    @Test
    void hardeningRemovesDeviceNodesAndSetIdBitsAndReplacesPlantedSymlinks() throws Exception {
        Path root = Files.createDirectories(work.resolve("harden-" + UUID.randomUUID()));
        Files.createSymbolicLink(root.resolve("tmp"), Path.of("/etc"));
        Files.writeString(root.resolve("proc"), "not a dir");
        Path suid = Files.writeString(root.resolve("suid"), "x");
        Files.setAttribute(suid, "unix:mode", 04755);
        io.mcpsandbox.host.HostCommand.check(List.of("mknod", root.resolve("disk").toString(), "b", "8", "0"),
                java.time.Duration.ofSeconds(5));
        ImageCatalog.harden(root);
        assertThat(Files.isDirectory(root.resolve("tmp"), LinkOption.NOFOLLOW_LINKS)).isTrue();
        assertThat(Files.isDirectory(root.resolve("proc"), LinkOption.NOFOLLOW_LINKS)).isTrue();
        assertThat(root.resolve("disk")).doesNotExist();
        assertThat((Integer) Files.getAttribute(suid, "unix:mode") & 07777).isEqualTo(0755);
    }
}
