package io.mcpsandbox.runtime.oci;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.SeccompProfile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The spec content that bounds host-wide kernel resources (issue 10 items 4 and 5). */
class BundleSpecContentTest {
    private static final Path AGENT = Path.of("/opt/agent/mcp-agent");
    private final JsonMapper json = JsonMapper.builder().build();

    @TempDir
    Path dir;

    private JsonNode write(OciFlavor flavor) throws Exception {
        BundleWriter writer = new BundleWriter(json, SeccompProfile.loadDefault(json), AGENT, HostLsm.none("test"));
        RootFilesystem rootfs = new RootFilesystem("host", dir.resolve("root"),
                List.of(new RootFilesystem.HostBind(Path.of("/usr"), "/usr")));
        SandboxSpec spec = new SandboxSpec("mcp-exec-test", rootfs,
                new ResourceLimits(Duration.ofSeconds(5), 64 << 20, 1, 32, 1 << 20, 8 << 20, 256), Map.of());
        Path bundle = dir.resolve(flavor.name());
        writer.write(bundle, spec, flavor, dir.resolve("ws"), 200_000);
        return json.readTree(Files.readString(bundle.resolve("config.json")));
    }

    private static JsonNode mount(JsonNode config, String destination) {
        for (JsonNode m : config.get("mounts")) {
            if (m.get("destination").asString().equals(destination)) {
                return m;
            }
        }
        return null;
    }

    private static List<String> options(JsonNode mount) {
        return mount.get("options").valueStream().map(JsonNode::asString).toList();
    }

    @Test
    void rlimitsAreSetNotInherited() throws Exception {
        for (OciFlavor flavor : List.of(OciFlavor.RUNC, OciFlavor.RUNSC)) {
            Map<String, Long> rlimits = new java.util.HashMap<>();
            for (JsonNode r : write(flavor).get("process").get("rlimits")) {
                assertThat(r.get("soft").asLong()).isEqualTo(r.get("hard").asLong());
                rlimits.put(r.get("type").asString(), r.get("hard").asLong());
            }
            assertThat(rlimits).containsEntry("RLIMIT_RTPRIO", 0L).containsEntry("RLIMIT_NICE", 0L)
                    .containsEntry("RLIMIT_CORE", 0L).containsEntry("RLIMIT_MEMLOCK", 65536L)
                    .containsEntry("RLIMIT_MSGQUEUE", 65536L).containsEntry("RLIMIT_SIGPENDING", 1024L)
                    .containsEntry("RLIMIT_NOFILE", 256L).containsEntry("RLIMIT_NPROC", 32L);
        }
    }

    @Test
    void theAgentIsPid1WithNothingOfItsOwnAndBoundReadOnly() throws Exception {
        for (OciFlavor flavor : List.of(OciFlavor.RUNC, OciFlavor.RUNSC)) {
            JsonNode config = write(flavor);
            JsonNode process = config.get("process");
            assertThat(process.get("args").valueStream().map(JsonNode::asString).toList())
                    .containsExactly(RootFilesystem.INIT_MOUNT_POINT);
            assertThat(process.get("env").size()).as("the programs get their env from the agent").isZero();
            assertThat(process.get("cwd").asString()).isEqualTo("/");
            JsonNode agent = mount(config, RootFilesystem.INIT_MOUNT_POINT);
            assertThat(agent.get("source").asString()).isEqualTo(AGENT.toString());
            assertThat(options(agent)).contains("ro", "nosuid", "nodev");
            assertThat(mount(config, "/tmp").get("type").asString()).isEqualTo("tmpfs");
        }
    }

    @Test
    void runcBindsAreRecursivelyReadOnlyAndGvisorsReadOnly() throws Exception {
        assertThat(options(mount(write(OciFlavor.RUNC), "/usr"))).contains("rbind", "rro").doesNotContain("ro");
        assertThat(options(mount(write(OciFlavor.RUNSC), "/usr"))).contains("rbind", "ro").doesNotContain("rro");
    }

    @Test
    void devptsHasAMaximum() throws Exception {
        assertThat(options(mount(write(OciFlavor.RUNC), "/dev/pts")))
                .contains("newinstance", "max=" + BundleWriter.MAX_PTYS);
    }

    @Test
    void runcGetsTheInotifyHookAndGvisorItsDeviceCovers() throws Exception {
        JsonNode runc = write(OciFlavor.RUNC);
        // runc: one shell inside the sandbox's namespaces, before it becomes the sandbox user
        assertThat(runc.get("hooks").get("createRuntime")).isNull();
        JsonNode hook = runc.get("hooks").get("createContainer").get(0);
        assertThat(hook.get("path").asString()).isEqualTo("/bin/sh");
        assertThat(hook.get("args").get(2).asString()).isEqualTo("echo 8 > /proc/sys/user/max_inotify_instances "
                + "&& echo 8192 > /proc/sys/user/max_inotify_watches");
        assertThat(mount(runc, "/dev/fuse")).isNull();

        JsonNode crun = write(OciFlavor.CRUN);
        assertThat(crun.get("hooks").get("createRuntime").get(0).get("args").get(2).asString()).contains(
                "/usr/bin/nsenter", "--user", "echo 8 > /proc/sys/user/max_inotify_instances",
                "echo 8192 > /proc/sys/user/max_inotify_watches");

        JsonNode runsc = write(OciFlavor.RUNSC);
        assertThat(runsc.get("hooks")).isNull();
        assertThat(options(mount(runsc, "/dev/fuse"))).contains("mode=000");
        assertThat(mount(runsc, "/dev/net").get("type").asString()).isEqualTo("tmpfs");
    }

    @Test
    void theHookFindsThePidInRuncsState() throws Exception {
        // the hook's own parsing, run by the host shell on the state runc writes
        String script = BundleWriter.inotifyLimitHook().get("args").toString();
        assertThat(script).contains("${state#*\\\"pid\\\":}");
        Process p = new ProcessBuilder("/bin/sh", "-c",
                "read -r state; pid=${state#*\\\"pid\\\":}; pid=${pid%%[!0-9]*}; echo $pid")
                .start();
        p.getOutputStream().write(
                "{\"ociVersion\":\"1.0.2\",\"id\":\"x\",\"status\":\"creating\",\"pid\":4242,\"bundle\":\"/b\"}\n"
                .getBytes());
        p.getOutputStream().close();
        assertThat(new String(p.getInputStream().readAllBytes()).trim()).isEqualTo("4242");
    }
}
