package io.mcpsandbox.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.api.http.ApiKeys;
import io.mcpsandbox.config.ServerConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The local endpoint file as a hostile local environment may leave it, and the server's local key. */
class LocalEndpointTest {
    @TempDir
    Path dir;

    private static long uid() {
        return Preflight.effectiveUid();
    }

    @Test
    void whatTheServerWritesIsReadBackOwnerOnly() throws Exception {
        LocalEndpoint written = LocalEndpoint.ofThisProcess("http://127.0.0.1:8080", LocalEndpoint.newToken());
        written.write(dir);
        Path file = dir.resolve(LocalEndpoint.FILE_NAME);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        assertThat(LocalEndpoint.read(dir, uid())).isEqualTo(written);
        try (var files = Files.list(dir)) {
            assertThat(files.toList()).containsExactly(file); // no temporary file left
        }
        written.removeFrom(dir);
        assertThat(file).doesNotExist();
    }

    @Test
    void writingReplacesALinkWithoutWritingThroughIt() throws Exception {
        Path victim = Files.writeString(dir.resolve("victim"), "keep me");
        Files.createSymbolicLink(dir.resolve(LocalEndpoint.FILE_NAME), victim);
        LocalEndpoint.ofThisProcess("http://127.0.0.1:1", LocalEndpoint.newToken()).write(dir);
        assertThat(victim).hasContent("keep me");
        assertThat(Files.isSymbolicLink(dir.resolve(LocalEndpoint.FILE_NAME))).isFalse();
        // A link planted at the temporary name is removed, not followed.
        long pid = ProcessHandle.current().pid();
        Files.createSymbolicLink(dir.resolve(LocalEndpoint.FILE_NAME + "." + pid + ".tmp"), victim);
        LocalEndpoint.ofThisProcess("http://127.0.0.1:2", LocalEndpoint.newToken()).write(dir);
        assertThat(victim).hasContent("keep me");
        assertThat(LocalEndpoint.read(dir, uid()).url()).isEqualTo("http://127.0.0.1:2");
    }

    @Test
    void anEndpointOfAnotherServerIsNotRemoved() throws Exception {
        LocalEndpoint ours = LocalEndpoint.ofThisProcess("http://127.0.0.1:1", LocalEndpoint.newToken());
        LocalEndpoint.ofThisProcess("http://127.0.0.1:2", LocalEndpoint.newToken()).write(dir);
        ours.removeFrom(dir);
        assertThat(dir.resolve(LocalEndpoint.FILE_NAME)).exists();
    }

    @Test
    void malformedFilesAreRefused() throws Exception {
        LocalEndpoint self = LocalEndpoint.ofThisProcess("http://127.0.0.1:8080", LocalEndpoint.newToken());
        String good = "url=" + self.url() + "\ntoken=" + self.token() + "\npid=" + self.pid() + "\nstart="
                + self.startTime() + "\n";
        for (String bad : List.of("", "garbage", good + "extra=1\n", good + "url=http://127.0.0.1:1\n",
                good.replace("http://127.0.0.1:8080", "http://evil.example:80"),
                good.replace("http://127.0.0.1:8080", "https://127.0.0.1:8080"),
                good.replace(self.token(), "short"), good.replace("pid=", "pid=-"),
                good + "x".repeat(2000))) {
            write(bad);
            assertThatThrownBy(() -> LocalEndpoint.read(dir, uid())).as(bad)
                    .isInstanceOf(LocalEndpoint.Unusable.class);
        }
        write(good);
        assertThat(LocalEndpoint.read(dir, uid())).isEqualTo(self);
    }

    @Test
    void aFileOfAProcessThatIsGoneOrOfAnotherIsRefused() throws Exception {
        LocalEndpoint self = LocalEndpoint.ofThisProcess("http://127.0.0.1:8080", LocalEndpoint.newToken());
        new LocalEndpoint(self.url(), self.token(), self.pid(), self.startTime() + 1).write(dir);
        assertThatThrownBy(() -> LocalEndpoint.read(dir, uid())).hasMessageContaining("is gone");
        new LocalEndpoint(self.url(), self.token(), Integer.MAX_VALUE, 1).write(dir);
        assertThatThrownBy(() -> LocalEndpoint.read(dir, uid())).hasMessageContaining("is gone");
    }

    @Test
    void aWildcardAddressIsReachedOnLoopback() throws Exception {
        assertThat(LocalEndpoint.urlFor("0.0.0.0", 80)).isEqualTo("http://127.0.0.1:80");
        assertThat(LocalEndpoint.urlFor("::", 80)).isEqualTo("http://[::1]:80");
        assertThat(LocalEndpoint.urlFor("127.0.0.1", 8080)).isEqualTo("http://127.0.0.1:8080");
    }

    @Test
    void theLocalKeyIsTheLocalUserAlsoWithoutAuthentication() {
        String token = LocalEndpoint.newToken();
        ApiKeys keyed = ApiKeys.of(List.of(new ServerConfig.ApiKey("k".repeat(20), "alice")))
                .withLocalKey(token, "root");
        assertThat(keyed.authenticate("Bearer " + token)).contains("root");
        assertThat(keyed.authenticate("Bearer " + "k".repeat(20))).contains("alice");
        assertThat(keyed.authenticate("Bearer " + "0".repeat(64))).isEmpty();
        assertThat(keyed.authenticate(null)).isEmpty();
        ApiKeys open = ApiKeys.insecure("anonymous").withLocalKey(token, "root");
        assertThat(open.authenticate("Bearer " + token)).contains("root");
        assertThat(open.authenticate("Bearer nope")).contains("anonymous");
        assertThat(open.authenticate(null)).contains("anonymous");
    }

    private void write(String text) throws IOException {
        Path file = dir.resolve(LocalEndpoint.FILE_NAME);
        Files.deleteIfExists(file);
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(file, text, LinkOption.NOFOLLOW_LINKS);
    }
}
