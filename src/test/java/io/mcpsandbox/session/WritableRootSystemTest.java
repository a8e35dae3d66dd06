package io.mcpsandbox.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.image.HostImage;
import io.mcpsandbox.image.ImageResolver;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.model.SessionRequest;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.WritableRoot;
import io.mcpsandbox.testing.DockerDaemon;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code rootfs: "writable"} on every runtime: writes under /usr/local, /etc, /opt and /root persist between
 * executions (a package installed by pip included), a read-only session still refuses them, the root's size cap
 * holds (ENOSPC inside, a tmpfs of that size on the host, the host's own directories untouched), links planted
 * in the writable root lead nowhere at teardown, and nothing is left after close.
 */
@SystemTest
class WritableRootSystemTest {
    private static final long CAP = 32L << 20;
    private static final Path CANARY_DIR = Path.of("/tmp/mcp-writable-root-canary");

    private static TestSandbox sandbox;
    private final Set<String> users = ConcurrentHashMap.newKeySet();

    @BeforeAll
    static void start() throws Exception {
        DockerDaemon.ensureRunning();
        sandbox = TestSandbox.start(Map.of("MCP_SANDBOX_POLICY_MODE", "report",
                "MCP_SANDBOX_SESSION_ROOTFS_BYTES", Long.toString(CAP)));
        Files.createDirectories(CANARY_DIR);
        Files.writeString(CANARY_DIR.resolve("canary"), "host");
    }

    @AfterAll
    static void stop() throws IOException {
        sandbox.close();
        Files.deleteIfExists(CANARY_DIR.resolve("canary"));
        Files.deleteIfExists(CANARY_DIR);
    }

    @AfterEach
    void closeWhatIsLeftOpen() throws Exception {
        for (String user : users) {
            for (SessionRecord open : sessions().list(user)) {
                try {
                    sessions().close(user, open.sessionId());
                } catch (SessionUnavailableException closedMeanwhile) {
                    // it ended on its own
                }
            }
        }
        assertNothingLeftBehind();
    }

    static Stream<String> runtimes() {
        return TestSandbox.ALL_RUNTIMES.stream();
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void writesPersistWithinTheCapAndLeaveNothing(String runtime) throws Exception {
        String user = "writer-" + runtime;
        users.add(user);
        SessionRecord session = open(runtime, user, "writable");
        String id = session.sessionId();
        assertThat(session.rootfs()).isEqualTo(SessionRecord.WRITABLE);

        assertCompleted(run(user, id, "mkdir -p /usr/local/lib && echo x > /usr/local/lib/x && echo y > /etc/y"
                + " && echo z > /opt/z && echo w > /root/w && echo v > /var/v && echo written"), "written\n");
        assertCompleted(run(user, id, "cat /usr/local/lib/x /etc/y /opt/z /root/w /var/v"), "x\ny\nz\nw\nv\n");
        // A file the image owns can be replaced, not edited in place (files keep the image's owner).
        assertCompleted(run(user, id, "cp /etc/passwd /tmp/p && echo 'extra:x:2000:2000::/:/bin/sh' >> /tmp/p"
                + " && cat /tmp/p > /etc/passwd.new && mv /etc/passwd.new /etc/passwd && grep -c extra /etc/passwd"),
                "1\n");
        // The host image's host binds below /etc stay read-only, over the writable /etc (not hidden by it). A glob,
        // not ls: this gVisor answers statx with EINVAL.
        assertCompleted(run(user, id, "set -- /etc/ssl/*; test -e \"$1\" && ! touch /etc/ssl/x 2>/dev/null"
                + " && echo ro"),
                "ro\n");
        // The host image's /usr/local is the host's, seen through the overlay: the host's stays as it was.
        assertThat(Path.of("/usr/local/lib/x")).doesNotExist();
        assertThat(Path.of("/etc/y")).doesNotExist();

        installsAPackage(user, id);
        fillsToTheCapAndNoFurther(user, id);
        plantedLinksLeadNowhere(user, id);

        sessions().close(user, id);
        assertNothingLeftBehind();
        assertThat(Files.readString(CANARY_DIR.resolve("canary"))).isEqualTo("host");
        assertThat(Path.of("/usr/local/lib/x")).doesNotExist();
    }

    /** pip from an uploaded wheel, no network; without pip, a module written into site-packages. */
    private void installsAPackage(String user, String id) throws Exception {
        sessions().writeFile(user, id, "/workspace/mcp_probe-1.0-py3-none-any.whl", new ByteArrayInputStream(wheel()),
                1 << 20);
        // pip starts slowly on two shared cores: its own timeout, longer than the default.
        ExecutionResult install = run(user, id, new LimitsRequest(180_000L, null, null, null, null),
                "export HOME=/tmp; if python3 -m pip --version >/dev/null 2>&1; then"
                + " python3 -m pip install -q --no-index --no-cache-dir --break-system-packages"
                + " /workspace/mcp_probe-1.0-py3-none-any.whl && echo pip; else"
                + " d=$(python3 -c 'import site; print(site.getsitepackages()[0])') && mkdir -p \"$d\""
                + " && echo 'VALUE = \"installed\"' > \"$d/mcp_probe.py\" && echo module; fi");
        assertThat(install.status()).as(install.reason() + " / " + install.stderr())
                .isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(install.exitCode()).as(install.stderr()).isZero();
        // The host image runs the host's python: where the host has pip, the sandbox has it too.
        boolean pip = Files.isDirectory(Path.of("/usr/lib/python3/dist-packages/pip"));
        assertThat(install.stdout()).isEqualTo(pip ? "pip\n" : "module\n");
        assertCompleted(run(user, id, "cd / && python3 -c 'import mcp_probe; print(mcp_probe.VALUE)'"),
                "installed\n");
    }

    /** A wheel of one module, {@code mcp_probe} with {@code VALUE = "installed"}. */
    private static byte[] wheel() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Map<String, String> entries = Map.of(
                "mcp_probe.py", "VALUE = \"installed\"\n",
                "mcp_probe-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: mcp_probe\nVersion: 1.0\n",
                "mcp_probe-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                        + "Tag: py3-none-any\n",
                "mcp_probe-1.0.dist-info/RECORD", "mcp_probe.py,,\nmcp_probe-1.0.dist-info/METADATA,,\n"
                        + "mcp_probe-1.0.dist-info/WHEEL,,\nmcp_probe-1.0.dist-info/RECORD,,\n");
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            for (Map.Entry<String, String> e : entries.entrySet()) {
                zip.putNextEntry(new ZipEntry(e.getKey()));
                zip.write(e.getValue().getBytes(StandardCharsets.UTF_8));
                zip.closeEntry();
            }
        }
        return bytes.toByteArray();
    }

    /**
     * The hostile filler: writes 8 MiB files (below RLIMIT_FSIZE) until the root is full. It ends with ENOSPC
     * inside, the host holds a tmpfs of the cap's size and no more, and freeing space lets writing go on.
     */
    private void fillsToTheCapAndNoFurther(String user, String id) throws Exception {
        ExecutionResult fill = run(user, id, "i=0; while [ $i -lt 16 ]; do i=$((i+1));"
                + " dd if=/dev/zero of=/opt/fill$i bs=1M count=8 2>/tmp/dd.err || { cat /tmp/dd.err >&2; break; };"
                + " done; echo files=$i");
        assertThat(fill.status()).as(fill.reason()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(fill.stderr()).contains("No space left on device");
        assertThat(fill.stdout()).isNotEqualTo("files=16\n");
        List<Path> stores = rootStores();
        assertThat(stores).as("one root store on the host").hasSize(1);
        assertThat(Files.getFileStore(stores.get(0)).getTotalSpace()).isEqualTo(CAP);
        assertCompleted(run(user, id, "rm -f /opt/fill* && echo again > /opt/again && cat /opt/again"), "again\n");
    }

    /** Links to the host's paths in every tree: teardown unmounts before it deletes, so none is followed. */
    private void plantedLinksLeadNowhere(String user, String id) {
        String canary = CANARY_DIR.resolve("canary").toString();
        assertCompleted(run(user, id, "ln -s / /opt/root-link && ln -s " + canary + " /etc/canary"
                + " && ln -s " + CANARY_DIR + " /var/canary-dir && mkdir -p /root/d && ln -s /usr /root/d/usr"
                + " && echo planted"), "planted\n");
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void aReadOnlyRootStillRefusesWrites(String runtime) throws Exception {
        String user = "reader-" + runtime;
        users.add(user);
        SessionRecord session = open(runtime, user, null);
        assertThat(session.rootfs()).isEqualTo(SessionRecord.READ_ONLY);
        ExecutionResult writes = run(user, session.sessionId(), "for f in /usr/local/lib/x /etc/y /opt/z /root/w; do"
                + " touch $f 2>&1 | sed 's/.*: //'; done");
        assertThat(writes.status()).as(writes.reason()).isEqualTo(ExecutionStatus.COMPLETED);
        // runc checks the mount before the directory's owner; gVisor checks the owner first (the image's
        // directories are not the sandbox user's), so it may answer EACCES where runc answers EROFS.
        String refused = runtime.contains("runsc") ? "(Read-only file system|Permission denied)"
                : "Read-only file system";
        assertThat(writes.stdout()).as(writes.stderr()).matches("(" + refused + "\n){4}");
        assertThat(rootStores()).as("no root store for a read-only session").isEmpty();
        sessions().close(user, session.sessionId());
    }

    /**
     * A crashed server's writable root (mounted, no owner lock, no container): the OCI reaper unmounts the
     * store and every overlay before it deletes the bundle.
     */
    @Test
    void theCrashReaperUnmountsALeftWritableRoot() throws Exception {
        String name = SandboxSpec.nameFor(UUID.randomUUID().toString());
        Path bundle = sandbox.services().config().bundlesDir().resolve(name);
        RootFilesystem host = new ImageResolver(new HostImage(Path.of("/"), sandbox.services().config().imagesDir()))
                .resolve(HostImage.NAME);
        WritableRoot root = WritableRoot.mount(bundle.resolve("rootfs-rw"), host, CAP, 1000, 201_000);
        assertThat(root.trees()).extracting(WritableRoot.Tree::destination).contains("/etc", "/usr/local", "/opt");
        assertThat(rootStores()).hasSize(1);
        Files.writeString(root.trees().get(0).merged().resolve("planted"), "x");
        Files.createSymbolicLink(root.trees().get(0).merged().resolve("canary-link"), CANARY_DIR);

        List<String> reaped = sandbox.services().registry().find("runc").orElseThrow().leftovers().reapLeftovers();
        assertThat(reaped).contains(name);
        assertThat(rootStores()).isEmpty();
        assertThat(bundle).doesNotExist();
        assertThat(Files.readString(CANARY_DIR.resolve("canary"))).isEqualTo("host");
    }

    /**
     * A hostile image with more directories than a writable root makes the sandbox user's: the host makes
     * {@link WritableRoot#MAX_OWNED_DIRS} and stops; the rest keep the image's owner, nothing fails.
     */
    @Test
    void anImageWithTooManyDirectoriesGetsOnlyTheBudget(@org.junit.jupiter.api.io.TempDir Path dir)
            throws Exception {
        Path root = Files.createDirectories(dir.resolve("root"));
        Path opt = Files.createDirectories(root.resolve("opt"));
        for (int i = 0; i < WritableRoot.MAX_OWNED_DIRS / 100 + 1; i++) {
            for (int j = 0; j < 100; j++) {
                Files.createDirectories(opt.resolve("d" + i).resolve("e" + j));
            }
        }
        Path rw = sandbox.services().config().dataDir().resolve("budget-test");
        WritableRoot written = WritableRoot.mount(rw, new RootFilesystem("many", root, List.of()), CAP, 100, 201_000);
        try {
            Path merged = written.trees().get(0).merged();
            assertThat(written.trees()).extracting(WritableRoot.Tree::destination).containsExactly("/opt");
            long owned;
            try (Stream<Path> all = Files.walk(merged)) {
                owned = all.filter(p -> {
                    try {
                        return ((Integer) Files.getAttribute(p, "unix:uid")) == 201_000;
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }).count();
            }
            assertThat(owned).isEqualTo(WritableRoot.MAX_OWNED_DIRS);
        } finally {
            WritableRoot.unmount(rw);
        }
        assertThat(WritableRoot.anyMounted(rw)).isFalse();
        io.mcpsandbox.host.DeleteTree.delete(rw);
    }

    /** The writable roots' tmpfs stores mounted under this service's data directory. */
    private static List<Path> rootStores() throws IOException {
        String dataDir = sandbox.services().config().dataDir().toString();
        List<Path> stores = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mounts"))) {
            String[] f = line.split(" ");
            if (f[0].equals("mcp-sandbox-rootfs") && f[2].equals("tmpfs") && f[1].startsWith(dataDir)) {
                stores.add(Path.of(f[1]));
            }
        }
        return stores;
    }

    private static SessionService sessions() {
        return sandbox.services().sessions();
    }

    private static SessionRecord open(String runtime, String user, String rootfs) throws Exception {
        return sandbox.openSession(new SessionRequest(null, runtime, null, null, Map.of(), null, rootfs, null, null,
                user));
    }

    private static ExecutionResult run(String user, String id, String script) {
        return run(user, id, null, script);
    }

    private static ExecutionResult run(String user, String id, LimitsRequest limits, String script) {
        return sandbox.run(ExecutionRequest.builder().command("sh", "-c", script).limits(limits).sessionId(id)
                .userId(user).build());
    }

    private static void assertCompleted(ExecutionResult result, String stdout) {
        assertThat(result.status()).as(result.reason() + " / " + result.stderr())
                .isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(result.exitCode()).as(result.stderr()).isZero();
        assertThat(result.stdout()).isEqualTo(stdout);
    }

    private static void assertNothingLeftBehind() throws Exception {
        Instant end = Instant.now().plusSeconds(60);
        while (true) {
            try {
                sandbox.assertNothingLeftBehind();
                assertThat(rootStores()).as("writable root stores").isEmpty();
                return;
            } catch (AssertionError e) {
                if (Instant.now().isAfter(end)) {
                    throw e;
                }
                Thread.sleep(250);
            }
        }
    }
}
