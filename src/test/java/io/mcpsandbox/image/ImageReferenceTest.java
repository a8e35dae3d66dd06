package io.mcpsandbox.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.Arguments;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The reference grammar: what is accepted and how it is normalised, what is refused and why. */
class ImageReferenceTest {
    private static final String HEX = "0123456789abcdef".repeat(4);
    private static final String D = "sha256:" + HEX;

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', textBlock = """
            alpine                               | alpine:latest                   | docker.io/library/alpine:latest
            alpine:latest                        | alpine:latest                   | docker.io/library/alpine:latest
            alpine:3.19                          | alpine:3.19                     | docker.io/library/alpine:3.19
            docker.io/library/alpine:3.19        | alpine:3.19                     | docker.io/library/alpine:3.19
            index.docker.io/library/alpine:3.19  | alpine:3.19                     | docker.io/library/alpine:3.19
            library/alpine:3.19                  | alpine:3.19                     | docker.io/library/alpine:3.19
            python:3.11-slim                     | python:3.11-slim                | docker.io/library/python:3.11-slim
            node:20-alpine                       | node:20-alpine                  | docker.io/library/node:20-alpine
            docker.io/myorg/tool                 | myorg/tool:latest               | docker.io/myorg/tool:latest
            ghcr.io/org/tool:1.2                 | ghcr.io/org/tool:1.2            | ghcr.io/org/tool:1.2
            ghcr.io/library/tool:1.2             | ghcr.io/library/tool:1.2        | ghcr.io/library/tool:1.2
            localhost:5000/a/b/c:V1.0_rc-2       | localhost:5000/a/b/c:V1.0_rc-2  | localhost:5000/a/b/c:V1.0_rc-2
            localhost/x                          | localhost/x:latest              | localhost/x:latest
            [::1]:5000/x:1                       | [::1]:5000/x:1                  | [::1]:5000/x:1
            my-registry.example.com/a__b/c---d.e_f:t | my-registry.example.com/a__b/c---d.e_f:t \
                | my-registry.example.com/a__b/c---d.e_f:t
            host                                 | host                            | docker.io/library/host:latest
            host:latest                          | host                            | docker.io/library/host:latest
            docker.io/library/host               | host                            | docker.io/library/host:latest
            host:1                               | host:1                          | docker.io/library/host:1
            """)
    void validReferencesAreNormalised(String written, String name, String remote) {
        ImageReference ref = ImageReference.parse("image", written);
        assertThat(ref.name()).isEqualTo(name);
        assertThat(ref.toString()).isEqualTo(name);
        assertThat(ref.digest()).isNull();
        assertThat(ref.registryReference()).isEqualTo(remote);
        // Canonical names are fixed points, and their layout tags round-trip.
        assertThat(ImageReference.parse("image", name).name()).isEqualTo(name);
        String tag = ImageNames.layoutTag(name);
        assertThat(tag).matches("[a-z0-9_]+");
        if (!name.equals("host")) {
            assertThat(ImageNames.fromLayoutTag(tag)).contains(name);
        }
    }

    @Test
    void aDigestIsACheckNotPartOfTheName() {
        ImageReference tagged = ImageReference.parse("image", "docker.io/library/python:3.11-slim@" + D);
        assertThat(tagged.name()).isEqualTo("python:3.11-slim");
        assertThat(tagged.digest()).isEqualTo(D);
        assertThat(tagged.toString()).isEqualTo("python:3.11-slim@" + D);
        assertThat(tagged.registryReference()).isEqualTo("docker.io/library/python@" + D);
        ImageReference bare = ImageReference.parse("image", "ghcr.io/org/tool@" + D);
        assertThat(bare.name()).isEqualTo("ghcr.io/org/tool:latest");
        assertThat(bare.withoutDigest().toString()).isEqualTo("ghcr.io/org/tool:latest");
        assertThat(ImageReference.parse("image", "host@" + D).isHost()).isTrue();
    }

    static Stream<Arguments> invalid() {
        return Stream.of(
                Arguments.of("", "an image reference is required"),
                Arguments.of(null, "an image reference is required"),
                Arguments.of("Alpine:3.19", "the repository must be lower-case"),
                Arguments.of("org/Tool", "the repository must be lower-case"),
                Arguments.of("GHCR.io/org/tool", "the registry 'GHCR.io' must be a lower-case host name"),
                Arguments.of("../../etc/passwd", "'..' is not a path component"),
                Arguments.of("a/../b", "'..' is not a path component"),
                Arguments.of("ghcr.io/..", "'..' is not a path component"),
                Arguments.of("./a", "'.' is not a path component"),
                Arguments.of("..", "'..' is not a path component"),
                Arguments.of("a//b", "an empty path component is not valid"),
                Arguments.of("a/", "an empty path component is not valid"),
                Arguments.of("/a", "an empty path component is not valid"),
                Arguments.of("-rf", "the path component '-rf' is not valid"),
                Arguments.of("--help", "the path component '--help' is not valid"),
                Arguments.of("a_", "the path component 'a_' is not valid"),
                Arguments.of("a___b", "the path component 'a___b' is not valid"),
                Arguments.of("a b", "only printable ASCII characters without spaces"),
                Arguments.of("a\u0000b", "only printable ASCII characters without spaces"),
                Arguments.of("alpine\n", "only printable ASCII characters without spaces"),
                Arguments.of("caf\u00e9", "only printable ASCII characters without spaces"),
                Arguments.of("alpine:", "the tag must be 1-128"),
                Arguments.of("alpine:.x", "the tag must be 1-128"),
                Arguments.of("alpine:-x", "the tag must be 1-128"),
                Arguments.of("alpine:a/b", "the registry 'alpine:a' must be"), // a ':' before a '/' is a port
                Arguments.of("alpine:" + "t".repeat(129), "the tag must be 1-128"),
                Arguments.of("alpine@sha256:" + HEX.substring(1), "the digest must be sha256:<64 lower-case hex"),
                Arguments.of("alpine@sha256:" + HEX.toUpperCase(), "the digest must be sha256:<64 lower-case hex"),
                Arguments.of("alpine@sha512:" + HEX + HEX, "the digest must be sha256:<64 lower-case hex"),
                Arguments.of("alpine@" + D + "@" + D, "the digest must be sha256"),
                Arguments.of("@" + D, "the repository name is missing"),
                Arguments.of(":3.19", "the repository name is missing"),
                Arguments.of("a:b:c", "the path component 'a:b' is not valid"),
                Arguments.of("reg-.io/x", "the registry 'reg-.io' must be a lower-case host name"),
                Arguments.of("reg.io:port/x", "the registry 'reg.io:port' must be"),
                Arguments.of("a".repeat(256), "is 256 characters; the limit is 255"),
                Arguments.of("ghcr.io/" + "a/".repeat(123) + "abcdefghi", "the limit is 255"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalid")
    void invalidReferencesAreRefusedNamingTheFieldAndTheRule(String written, String reason) {
        assertThatThrownBy(() -> ImageReference.parse("image", written))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("image: ")
                .hasMessageContaining(reason);
    }

    @Test
    void theLongestAcceptedReferenceIs255Characters() {
        String longest = "a".repeat(255);
        assertThat(ImageReference.parse("image", longest).name()).isEqualTo(longest + ":latest");
    }

    @Test
    void layoutTagsOfOlderCatalogsReadAsReferencesAndStrangeTagsAreIgnored() {
        assertThat(ImageNames.fromLayoutTag("bb")).contains("bb:latest");
        assertThat(ImageNames.fromLayoutTag("python-3.11-slim")).contains("python-3.11-slim:latest");
        assertThat(ImageNames.fromLayoutTag("my_image")).contains("my_image:latest");
        assertThat(ImageNames.fromLayoutTag("alpine_3a3_2e19")).contains("alpine:3.19");
        assertThat(ImageNames.fromLayoutTag("Staging-x")).isEmpty();
        assertThat(ImageNames.fromLayoutTag("_2e_2e_2f_2e_2e")).isEqualTo(Optional.empty());
        assertThat(ImageNames.layoutTag("../x")).isEqualTo("_2e_2e_2fx");
    }
}
