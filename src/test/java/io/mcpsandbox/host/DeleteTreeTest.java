package io.mcpsandbox.host;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DeleteTreeTest {
    @TempDir
    Path tmp;

    /** A tree as a sandbox might leave it: nested directories, files, an empty directory. */
    private Path tree() throws Exception {
        Path root = tmp.resolve("tree");
        Files.createDirectories(root.resolve("a/b/c"));
        Files.createDirectories(root.resolve("empty"));
        Files.writeString(root.resolve("top.txt"), "top");
        Files.writeString(root.resolve("a/b/c/deep.txt"), "deep");
        return root;
    }

    /** A directory outside the tree that must survive, with a file in it. */
    private Path outside() throws Exception {
        Path outside = tmp.resolve("outside");
        Files.createDirectories(outside.resolve("sub"));
        Files.writeString(outside.resolve("keep.txt"), "host file");
        Files.writeString(outside.resolve("sub/keep2.txt"), "host file");
        return outside;
    }

    @Test
    void removesATreeWithItsFiles() throws Exception {
        Path root = tree();
        DeleteTree.delete(root);
        assertThat(root).doesNotExist();
        assertThat(tmp).isEmptyDirectory();
    }

    @Test
    void removesAPlantedLinkToADirectoryOutsideAsALink() throws Exception {
        Path root = tree();
        Path outside = outside();
        Files.createSymbolicLink(root.resolve("a/escape"), outside);
        Files.createSymbolicLink(root.resolve("a/b/file-escape"), outside.resolve("keep.txt"));
        Files.createSymbolicLink(root.resolve("dangling"), tmp.resolve("nothing-here"));

        DeleteTree.delete(root);

        assertThat(root).doesNotExist();
        assertThat(outside.resolve("keep.txt")).hasContent("host file");
        assertThat(outside.resolve("sub/keep2.txt")).hasContent("host file");
    }

    @Test
    void endsOnLinkLoops() throws Exception {
        Path root = tree();
        Files.createSymbolicLink(root.resolve("a/b/up"), Path.of("../.."));  // a link to an ancestor
        Files.createSymbolicLink(root.resolve("self"), Path.of("self"));     // a link to itself
        Files.createSymbolicLink(root.resolve("ping"), Path.of("pong"));     // two links to each other
        Files.createSymbolicLink(root.resolve("pong"), Path.of("ping"));

        DeleteTree.delete(root);

        assertThat(root).doesNotExist();
    }

    @Test
    void aLinkGivenAsTheTreeIsRemovedNotItsTarget() throws Exception {
        Path outside = outside();
        Path link = tmp.resolve("link");
        Files.createSymbolicLink(link, outside);

        DeleteTree.delete(link);

        assertThat(Files.exists(link, LinkOption.NOFOLLOW_LINKS)).isFalse();
        assertThat(outside.resolve("keep.txt")).hasContent("host file");
    }

    @Test
    void removesDirectoriesAndFilesLeftReadOnly() throws Exception {
        Path root = tree();
        Files.createDirectories(root.resolve("locked/inner"));
        Files.writeString(root.resolve("locked/inner/f"), "x");
        Files.setPosixFilePermissions(root.resolve("a/b"), PosixFilePermissions.fromString("r-xr-xr-x"));
        Files.setPosixFilePermissions(root.resolve("locked/inner"), PosixFilePermissions.fromString("r-x------"));
        Files.setPosixFilePermissions(root.resolve("locked"), PosixFilePermissions.fromString("r-x------"));
        Files.setPosixFilePermissions(root.resolve("top.txt"), PosixFilePermissions.fromString("---------"));

        DeleteTree.delete(root);

        assertThat(root).doesNotExist();
    }

    @Test
    void aMissingPathIsNotAnError() throws Exception {
        DeleteTree.delete(tmp.resolve("never-there"));
        assertThat(DeleteTree.deleteQuietly(tmp.resolve("never-there"))).isTrue();
    }

    @Test
    void aSingleFileIsRemoved() throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        assertThat(DeleteTree.deleteQuietly(file)).isTrue();
        assertThat(file).doesNotExist();
    }

    @Test
    void refusesTheRootDirectory() {
        assertThatThrownBy(() -> DeleteTree.delete(Path.of("/"))).isInstanceOf(IllegalArgumentException.class);
    }
}
