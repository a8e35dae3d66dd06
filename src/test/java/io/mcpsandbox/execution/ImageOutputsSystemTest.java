package io.mcpsandbox.execution;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.OutputImage;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.model.SessionRequest;
import io.mcpsandbox.session.SessionLease;
import io.mcpsandbox.session.SessionService;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Image outputs through a real runc session and its agent: what a program writes under /workspace between
 * {@link ImageOutputs#snapshot} and {@link ImageOutputs#collect}, with the hostile files a program can plant
 * (links, FIFOs, fakes, a huge file, a directory too full to list) and a real matplotlib chart.
 */
@SystemTest
class ImageOutputsSystemTest {
    /** Writes real PNG bytes with zlib and struct (no imaging library): png(width, height, (r, g, b)). */
    private static final String PNG_FUNCTION = """
            import os, struct, zlib
            def png(w, h, rgb):
                raw = b''.join(b'\\x00' + bytes(rgb) * w for _ in range(h))
                def chunk(kind, data):
                    body = kind + data
                    return struct.pack('>I', len(data)) + body + struct.pack('>I', zlib.crc32(body) & 0xffffffff)
                return (b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                        + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
            def write(name, data):
                with open('/workspace/' + name, 'wb') as f:
                    f.write(data)
            """;

    private static TestSandbox sandbox;
    private final String user = "images-" + UUID.randomUUID().toString().substring(0, 8);
    private String sessionId;

    @BeforeAll
    static void start() {
        // report: the hostile programs must meet the agent, not the command policy's tripwire; /workspace holds 50 MB
        sandbox = TestSandbox.start(Map.of("MCP_SANDBOX_POLICY_MODE", "report",
                "MCP_SANDBOX_LIMITS_DEFAULT_TMP", "256m"));
    }

    @AfterAll
    static void stop() throws IOException {
        sandbox.close();
    }

    @BeforeEach
    void open() throws Exception {
        SessionRecord session = sandbox.openSession(new SessionRequest(null, "runc", null, null, null, null, null,
                null, null, user));
        sessionId = session.sessionId();
    }

    @AfterEach
    void close() throws Exception {
        sessions().close(user, sessionId);
    }

    @Test
    void newAndChangedImagesComeBackAndNothingElse() throws Exception {
        ImageOutputs outputs = new ImageOutputs(settings(8, 2L << 20, 8L << 20));
        python(PNG_FUNCTION + "write('old.png', png(4, 4, (0, 0, 255)))\nwrite('changed.png', png(2, 2, (0, 0, 0)))");

        ImageOutputs.Snapshot before = snapshot(outputs);
        assertThat(before.unusable()).isNull();
        assertThat(before.files()).containsKeys("old.png", "changed.png");
        python(PNG_FUNCTION + """
                write('new.png', png(16, 8, (255, 0, 0)))
                write('changed.png', png(3, 3, (0, 255, 0)))
                write('drawing.svg', b'<?xml version="1.0"?>\\n<!-- made here -->\\n'
                      b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                      b'<rect width="5" height="5"/></svg>')
                write('fake.png', b'this is not a png at all')
                write('notes.txt', png(2, 2, (1, 2, 3)))
                os.symlink('/etc/passwd', '/workspace/chart.png')
                try:
                    os.mkfifo('/workspace/x.png')
                except PermissionError:  # the sandbox's seccomp refuses mknod: a socket is just as irregular
                    import socket
                    socket.socket(socket.AF_UNIX).bind('/workspace/x.png')
                with open('/workspace/big.png', 'wb') as f:
                    f.write(png(1, 1, (0, 0, 0)))
                    for _ in range(50):
                        f.write(b'\\0' * (1 << 20))
                os.mkdir('/workspace/sub')
                write('sub/inner.png', png(2, 2, (9, 9, 9)))
                print('written')
                """);
        long t0 = System.nanoTime();
        ImageOutputs.Collected got = collect(outputs, before);
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("a FIFO never blocks the collection")
                .isLessThan(Duration.ofSeconds(5));

        assertThat(got.images()).extracting(OutputImage::path)
                .containsExactly("/workspace/changed.png", "/workspace/drawing.svg", "/workspace/new.png");
        assertThat(got.images()).extracting(OutputImage::mimeType)
                .containsExactly("image/png", "image/svg+xml", "image/png");
        BufferedImage drawn = ImageIO.read(new ByteArrayInputStream(got.images().get(2).data()));
        assertThat(drawn.getWidth()).isEqualTo(16);
        assertThat(drawn.getHeight()).isEqualTo(8);
        assertThat(drawn.getRGB(0, 0) & 0xffffff).isEqualTo(0xff0000);
        assertThat(ImageIO.read(new ByteArrayInputStream(got.images().get(0).data())).getWidth()).isEqualTo(3);
        assertThat(new String(got.images().get(1).data(), StandardCharsets.UTF_8)).contains("<rect");
        assertThat(got.images().get(2).sizeBytes()).isEqualTo(got.images().get(2).data().length);

        assertThat(got.skipped()).hasSize(4);
        assertThat(got.skipped()).anySatisfy(n -> assertThat(n).startsWith("/workspace/chart.png: not a regular file "
                + "(link; links are never followed)"));
        assertThat(got.skipped()).anySatisfy(n -> assertThat(n).startsWith("/workspace/x.png: not a regular file "
                + "(other"));
        assertThat(got.skipped()).anySatisfy(n -> assertThat(n).isEqualTo("/workspace/fake.png: not a PNG, JPEG, "
                + "GIF or SVG image (by its content): skipped"));
        assertThat(got.skipped()).anySatisfy(n -> assertThat(n).startsWith("/workspace/big.png: 52428869 bytes, "
                + "more than 2097152 (outputs.image-max-bytes)"));
        assertThat(String.join("\n", got.skipped())).doesNotContain("old.png", "root:", "inner", "notes");
        assertThat(got.images()).noneSatisfy(i -> assertThat(new String(i.data(), StandardCharsets.ISO_8859_1))
                .contains("root:x:0"));
    }

    /** The count, per-image and total caps: images over them are skipped whole with the cap named. */
    @Test
    void theCapsSkipWholeImagesAndSayWhich() throws Exception {
        ImageOutputs outputs = new ImageOutputs(settings(2, 64 << 10, 100 << 10));
        ImageOutputs.Snapshot before = snapshot(outputs);
        // a.png and b.png: 60 KiB each (incompressible pixels); c.png and d.png small.
        python(PNG_FUNCTION + """
                import random
                random.seed(7)
                noise = lambda: bytes(random.getrandbits(8) for _ in range(60 << 10))
                write('a.png', png(1, 1, (0, 0, 0)) + noise())
                write('b.png', png(1, 1, (0, 0, 0)) + noise())
                write('c.png', png(1, 1, (0, 0, 0)))
                write('d.png', png(1, 1, (0, 0, 0)))
                write('e.png', png(1, 1, (0, 0, 0)) + b'\\0' * (70 << 10))
                """);
        ImageOutputs.Collected got = collect(outputs, before);
        assertThat(got.images()).extracting(OutputImage::path).containsExactly("/workspace/a.png", "/workspace/c.png");
        assertThat(got.images()).allSatisfy(i -> assertThat(i.sizeBytes()).isLessThanOrEqualTo(64 << 10));
        assertThat(got.skipped()).containsExactly(
                "/workspace/b.png: 61509 bytes, more than the 40891 left of 102400 (outputs.images-max-bytes): "
                        + "skipped",
                "/workspace/d.png: skipped: already 2 images (outputs.max-images)",
                "/workspace/e.png: skipped: already 2 images (outputs.max-images)");
    }

    /** Thousands of fake images: a bounded number of reads, a bounded list of notes, quickly. */
    @Test
    void manyFakeImagesCostABoundedNumberOfReads() throws Exception {
        ImageOutputs outputs = new ImageOutputs(settings(8, 2L << 20, 8L << 20));
        ImageOutputs.Snapshot before = snapshot(outputs);
        python(PNG_FUNCTION + "for i in range(5000):\n    write('fake%04d.png' % i, b'no image here')\n"
                + "write('real.png', png(1, 1, (0, 0, 0)))");
        long t0 = System.nanoTime();
        ImageOutputs.Collected got = collect(outputs, before);
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
        // By name: the fakes come first and use up the reads; real.png is not reached.
        assertThat(got.images()).isEmpty();
        assertThat(got.filesRead()).isEqualTo(ImageOutputs.MAX_READS);
        assertThat(got.skipped()).hasSize(ImageOutputs.MAX_NOTES + 1).last()
                .isEqualTo("... and " + (5001 - ImageOutputs.MAX_NOTES) + " more image files skipped");
        assertThat(got.skipped().get(0)).isEqualTo("/workspace/fake0000.png: not a PNG, JPEG, GIF or SVG image (by "
                + "its content): skipped");
    }

    /** A directory too full to list whole is not looked at (a partial listing would make old files look new). */
    @Test
    void aDirectoryTooFullToListIsLeftAlone() throws Exception {
        python("import os\nos.chdir('/workspace')\nfor i in range(" + (ImageOutputs.MAX_ENTRIES + 5) + "):\n"
                + "    open('f%05d.png' % i, 'wb').close()\n");
        ImageOutputs outputs = new ImageOutputs(settings(8, 2L << 20, 8L << 20));
        ImageOutputs.Snapshot before = snapshot(outputs);
        assertThat(before.unusable()).contains("more than " + ImageOutputs.MAX_ENTRIES + " entries");
        python(PNG_FUNCTION + "write('new.png', png(2, 2, (0, 0, 0)))");
        ImageOutputs.Collected got = collect(outputs, before);
        assertThat(got.images()).isEmpty();
        assertThat(got.skipped()).containsExactly(before.unusable());
    }

    /** A real chart: matplotlib (python3-matplotlib on the host, run by the host image) saving PNG and SVG. */
    @Test
    void aMatplotlibChartComesBackAsImages() throws Exception {
        ImageOutputs outputs = new ImageOutputs(settings(8, 2L << 20, 8L << 20));
        ImageOutputs.Snapshot before = snapshot(outputs);
        ExecutionResult r = run(ExecutionRequest.builder().command("python3", "-c", """
                import matplotlib.pyplot as plt
                fig, ax = plt.subplots(figsize=(4, 3), dpi=50)
                ax.plot([1, 2, 3, 4], [1, 4, 9, 16])
                ax.set_title('squares')
                fig.savefig('/workspace/chart.png')
                fig.savefig('/workspace/chart.svg')
                print('saved')
                """).env("MPLBACKEND", "Agg").env("MPLCONFIGDIR", "/tmp")
                // Debian's matplotlib reads /etc/matplotlibrc, which the host image's generated /etc lacks
                .env("MATPLOTLIBRC", "/usr/share/matplotlib/mpl-data/matplotlibrc"));
        assertThat(r.stdout()).as(r.stderr()).isEqualTo("saved\n");
        ImageOutputs.Collected got = collect(outputs, before);
        assertThat(got.skipped()).isEmpty();
        assertThat(got.images()).extracting(OutputImage::path, OutputImage::mimeType).containsExactly(
                org.assertj.core.groups.Tuple.tuple("/workspace/chart.png", "image/png"),
                org.assertj.core.groups.Tuple.tuple("/workspace/chart.svg", "image/svg+xml"));
        BufferedImage chart = ImageIO.read(new ByteArrayInputStream(got.images().get(0).data()));
        assertThat(chart.getWidth()).isEqualTo(200);
        assertThat(chart.getHeight()).isEqualTo(150);
    }

    private static ImageOutputSettings settings(int maxImages, long maxImageBytes, long maxTotalBytes) {
        return new ImageOutputSettings("/workspace", maxImageBytes, maxTotalBytes, maxImages, Duration.ofSeconds(10));
    }

    private ImageOutputs.Snapshot snapshot(ImageOutputs outputs) throws Exception {
        try (SessionLease lease = sessions().lease(user, sessionId)) {
            return outputs.snapshot(lease.channel());
        }
    }

    private ImageOutputs.Collected collect(ImageOutputs outputs, ImageOutputs.Snapshot before) throws Exception {
        try (SessionLease lease = sessions().lease(user, sessionId)) {
            return outputs.collect(lease.channel(), before);
        }
    }

    private void python(String script) {
        ExecutionResult r = run(ExecutionRequest.builder().command("python3", "-c", script));
        assertThat(r.exitCode()).as(r.stderr()).isZero();
    }

    private ExecutionResult run(ExecutionRequest.Builder request) {
        ExecutionResult r = sandbox.run(request.sessionId(sessionId).userId(user)
                .limits(new LimitsRequest(120_000L, null, null, null, null)).build());
        assertThat(r.status()).as(r.reason() + " / " + r.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        return r;
    }

    private static SessionService sessions() {
        return sandbox.services().sessions();
    }
}
