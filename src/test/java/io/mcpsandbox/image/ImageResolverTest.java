package io.mcpsandbox.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.ImageSettings;
import io.mcpsandbox.config.Settings;
import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.testing.SystemTest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The allowlist in front of the catalog: names, digest pins, and what a refusal says. */
@SystemTest
class ImageResolverTest {
    private static final String OTHER_DIGEST = "sha256:" + "0".repeat(64);
    private static Path work;
    private static ImageCatalog catalog;
    private static String digest;
    private static Path archive;

    @BeforeAll
    static void importImage() throws Exception {
        work = TestImages.workDir("mcp-resolver-test-");
        archive = TestImages.busyboxOciArchive(work, "bb", "m");
        Path images = Files.createDirectories(work.resolve("data/images"));
        catalog = new ImageCatalog(images, new HostImage(Path.of("/"), images));
        digest = catalog.importArchive("bb", archive).digest();
    }

    @AfterAll
    static void cleanUp() throws IOException {
        DeleteTree.delete(work);
    }

    private static ImageResolver resolver(String allowed) {
        return new ImageResolver(catalog, ImageAllowlist.parse(allowed));
    }

    @Test
    void unsetAllowlistAllowsBuiltInsAndImportedImages() throws Exception {
        ImageResolver r = resolver(null);
        RootFilesystem host = r.resolve("host");
        assertThat(host.binds()).isNotEmpty();
        RootFilesystem bb = r.resolve("bb");
        assertThat(bb.binds()).isEmpty();
        assertThat(bb.rootDir().resolve("etc/marker")).exists();
        assertThat(r.names()).containsExactly("host", "bb:latest");
    }

    @Test
    void unknownImageIsRefusedAndTheRefusalListsWhatIsAvailable() {
        assertThatThrownBy(() -> resolver(null).resolve("ubuntu"))
                .isInstanceOf(ImageResolver.UnknownImageException.class)
                .hasMessageContaining("'ubuntu:latest' is not in the catalog").hasMessageContaining("host, bb:latest");
    }

    @Test
    void aNameOutsideAConfiguredAllowlistIsRefused() throws Exception {
        ImageResolver r = resolver("bb");
        assertThat(r.resolve("bb").rootDir()).isDirectory();
        assertThatThrownBy(() -> r.resolve("host")).isInstanceOf(ImageResolver.UnknownImageException.class)
                .hasMessageContaining("'host' is not allowed here (allowed: bb:latest)");
        assertThat(r.names()).containsExactly("bb:latest");
    }

    @Test
    void aPinnedDigestMustMatch() throws Exception {
        assertThat(resolver("host, bb@" + digest).resolve("bb").image()).isEqualTo("bb:latest");
        assertThatThrownBy(() -> resolver("bb@" + OTHER_DIGEST).resolve("bb"))
                .isInstanceOf(ImageResolver.UnknownImageException.class)
                .hasMessageContaining("has digest " + digest).hasMessageContaining("pins it to " + OTHER_DIGEST);
        assertThatThrownBy(() -> resolver("host@" + OTHER_DIGEST).resolve("host"))
                .isInstanceOf(ImageResolver.UnknownImageException.class).hasMessageContaining("without a pin");
    }

    @Test
    void anAllowedNameMissingFromTheCatalogIsRefused() {
        assertThatThrownBy(() -> resolver("host,python").resolve("python"))
                .isInstanceOf(ImageResolver.UnknownImageException.class).hasMessageContaining("not in the catalog");
    }

    @Test
    void malformedAllowlistEntriesAreAConfigurationError() {
        assertThatThrownBy(() -> ImageAllowlist.parse("bb@sha256:xyz"))
                .hasMessageContaining("images.allowed: 'bb@sha256:xyz' is not a valid image reference: the digest "
                        + "must be sha256:<64 lower-case hex digits>");
        assertThatThrownBy(() -> ImageAllowlist.parse("Bad/Name")).hasMessageContaining("images.allowed: 'Bad/Name'")
                .hasMessageContaining("must be lower-case");
        assertThatThrownBy(() -> ImageAllowlist.parse("../etc")).hasMessageContaining("'..' is not a path component");
        assertThatThrownBy(() -> ImageAllowlist.parse("alpine@" + OTHER_DIGEST + ", alpine:latest@" + digest))
                .hasMessageContaining("'alpine:latest' is listed twice with different pins");
    }

    @Test
    void theSeedsAllowlistWithTagsAndPinsResolvesDockerStyleNames() throws Exception {
        Path images = Files.createDirectories(work.resolve("data-tags/images"));
        ImageCatalog tagged = new ImageCatalog(images, new HostImage(Path.of("/"), images));
        String d = tagged.importArchive("alpine:3.19", archive).digest();
        tagged.importArchive("ghcr.io/org/tool:1.2", archive);
        tagged.importArchive("python:3.11-slim", archive);
        ImageResolver r = new ImageResolver(tagged, ImageAllowlist.parse(
                "host, docker.io/library/alpine:3.19, python:3.11-slim@" + d + " ghcr.io/org/tool:1.2@"
                        + OTHER_DIGEST));
        assertThat(r.names()).containsExactly("host", "alpine:3.19", "ghcr.io/org/tool:1.2", "python:3.11-slim");
        assertThat(r.resolve("alpine:3.19").image()).isEqualTo("alpine:3.19");
        assertThat(r.resolve("docker.io/library/alpine:3.19").rootDir().resolve("etc/marker")).exists();
        assertThat(r.resolveImage("python:3.11-slim").digest()).contains(d);
        // A digest in the request is checked against the stored image.
        assertThat(r.resolve("alpine:3.19@" + d).image()).isEqualTo("alpine:3.19");
        assertThatThrownBy(() -> r.resolve("alpine:3.19@" + OTHER_DIGEST))
                .isInstanceOf(ImageResolver.UnknownImageException.class)
                .hasMessageContaining("has digest " + d + ", not " + OTHER_DIGEST + " as the request requires");
        // The pin holds whatever tag spelling is used.
        assertThatThrownBy(() -> r.resolve("ghcr.io/org/tool:1.2"))
                .isInstanceOf(ImageResolver.UnknownImageException.class)
                .hasMessageContaining("pins it to " + OTHER_DIGEST);
        // alpine (= alpine:latest) is another name than alpine:3.19, and not allowed.
        assertThatThrownBy(() -> r.resolve("alpine")).isInstanceOf(ImageResolver.UnknownImageException.class)
                .hasMessageContaining("'alpine:latest' is not allowed here");
        assertThatThrownBy(() -> r.resolve("../alpine:3.19")).isInstanceOf(ImageResolver.UnknownImageException.class)
                .hasMessageContaining("image: '../alpine:3.19' is not a valid image reference");
        assertThatThrownBy(() -> r.resolve("host@" + OTHER_DIGEST))
                .isInstanceOf(ImageResolver.UnknownImageException.class)
                .hasMessageContaining("no manifest digest");
    }

    @Test
    void settingsReadTheEnvironmentVariableBeforeTheConfigFileKey() {
        Properties file = new Properties();
        file.setProperty("images.allowed", "host");
        assertThat(ImageSettings.from(new Settings(file, Map.of())).allowed()).isEqualTo("host");
        assertThat(ImageSettings.from(new Settings(file, Map.of("MCP_SANDBOX_ALLOWED_IMAGES", "bb"))).allowed())
                .isEqualTo("bb");
        assertThat(ImageSettings.from(new Settings(new Properties(), Map.of())).allowed()).isNull();
    }

    @Test
    void vulnerabilitySettingsDefaultToNoRefusalAndTheHostPathAndAMalformedFlagNamesItsKey() {
        ImageSettings defaults = ImageSettings.from(new Settings(new Properties(), Map.of()));
        assertThat(defaults.refuseCritical()).isFalse();
        assertThat(defaults.trivy()).isNull();
        Properties file = new Properties();
        file.setProperty("images.refuse-critical", "true");
        file.setProperty("images.trivy", "/opt/trivy/bin/trivy");
        ImageSettings fromFile = ImageSettings.from(new Settings(file, Map.of()));
        assertThat(fromFile.refuseCritical()).isTrue();
        assertThat(fromFile.trivy()).isEqualTo("/opt/trivy/bin/trivy");
        assertThat(ImageSettings.from(new Settings(file, Map.of("MCP_SANDBOX_IMAGES_REFUSE_CRITICAL", "false")))
                .refuseCritical()).isFalse();
        assertThatThrownBy(() -> ImageSettings.from(new Settings(new Properties(),
                Map.of("MCP_SANDBOX_IMAGES_REFUSE_CRITICAL", "yes")))).hasMessageContaining("images.refuse-critical")
                .hasMessageContaining("true or false");
    }

    @Test
    void aCatalogImageResolvesWithItsDigestAndTheHostImageWithNone() throws Exception {
        assertThat(resolver(null).resolveImage("bb").digest()).contains(digest);
        assertThat(resolver(null).resolveImage("host").digest()).isEmpty();
    }
}
