package io.mcpsandbox.host;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Sha256Test {
    private static final String EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    private static final String ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    @TempDir
    Path tmp;

    @Test
    void knownDigests() {
        assertThat(Sha256.hex("")).isEqualTo(EMPTY);
        assertThat(Sha256.hex("abc")).isEqualTo(ABC);
        assertThat(Sha256.hex("abc".getBytes(StandardCharsets.UTF_8))).isEqualTo(ABC);
    }

    @Test
    void partsHashAsTheirConcatenation() {
        assertThat(Sha256.hex(List.of("a".getBytes(StandardCharsets.UTF_8), "bc".getBytes(StandardCharsets.UTF_8))))
                .isEqualTo(ABC);
    }

    @Test
    void aFileLargerThanOneChunkHashesAsItsBytes() throws Exception {
        byte[] data = new byte[200_000];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 31);
        }
        Path file = Files.write(tmp.resolve("data"), data);
        assertThat(Sha256.hexOfFile(file)).isEqualTo(Sha256.hex(data));
    }

    @Test
    void aLinkIsNotFollowed() throws Exception {
        Path target = Files.writeString(tmp.resolve("secret"), "abc");
        Path link = Files.createSymbolicLink(tmp.resolve("link"), target);
        assertThatThrownBy(() -> Sha256.hexOfFile(link)).isInstanceOf(IOException.class)
                .hasMessageContaining("symbolic link");
    }
}
