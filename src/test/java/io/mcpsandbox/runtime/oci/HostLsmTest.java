package io.mcpsandbox.runtime.oci;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.SeccompProfile;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

@SystemTest
class HostLsmTest {
    @Test
    void aHostWithoutAnLsmGetsNeitherProfileNorLabel(@TempDir Path sys) {
        HostLsm lsm = HostLsm.detect(sys);
        assertThat(lsm.appArmor()).isFalse();
        assertThat(lsm.selinuxEnforcing()).isFalse();
        assertThat(lsm.status()).contains("neither AppArmor nor SELinux");
    }

    @Test
    void anSelinuxEnforcingHostGetsTheContainerLabel(@TempDir Path sys) throws IOException {
        Files.createDirectories(sys.resolve("sys/fs/selinux"));
        Files.writeString(sys.resolve("sys/fs/selinux/enforce"), "1\n");
        HostLsm lsm = HostLsm.detect(sys);
        assertThat(lsm.selinuxEnforcing()).isTrue();
        assertThat(lsm.selinuxLabel()).isEqualTo("system_u:system_r:container_t:s0");
    }

    @Test
    void detectionAgreesWithThisHost() throws IOException {
        Path enabled = Path.of("/sys/module/apparmor/parameters/enabled");
        boolean apparmorHere = Files.exists(enabled) && Files.readString(enabled).trim().equals("Y");
        Path enforce = Path.of("/sys/fs/selinux/enforce");
        boolean selinuxHere = Files.exists(enforce) && Files.readString(enforce).trim().equals("1");
        HostLsm lsm = HostLsm.detect(Path.of("/"));
        assertThat(lsm.selinuxEnforcing()).isEqualTo(selinuxHere);
        if (!apparmorHere) {
            assertThat(lsm.appArmor()).isFalse();
        }
    }

    @Test
    void bundlesNameTheProfileOrLabelOnlyWhereTheHostEnforcesOne(@TempDir Path dir) throws IOException {
        JsonMapper json = JsonMapper.builder().build();
        SandboxSpec spec = new SandboxSpec("mcp-exec-test", new RootFilesystem("host", dir, List.of()),
                new ResourceLimits(Duration.ofSeconds(5), 64L << 20, 1, 16, 1024, 1 << 20, 64), Map.of());
        HostLsm apparmor = new HostLsm(true, HostLsm.PROFILE_NAME, false, null, "test");
        HostLsm selinux = new HostLsm(false, null, true, HostLsm.CONTAINER_LABEL, "test");

        assertThat(process(json, spec, dir, HostLsm.none("test"), OciFlavor.RUNC).has("apparmorProfile")).isFalse();
        assertThat(process(json, spec, dir, apparmor, OciFlavor.RUNC).path("apparmorProfile").asString())
                .isEqualTo(HostLsm.PROFILE_NAME);
        assertThat(process(json, spec, dir, selinux, OciFlavor.RUNC).path("selinuxLabel").asString())
                .isEqualTo(HostLsm.CONTAINER_LABEL);
        assertThat(process(json, spec, dir, apparmor, OciFlavor.RUNSC).has("apparmorProfile")).as("not in gVisor")
                .isFalse();
    }

    private static JsonNode process(JsonMapper json, SandboxSpec spec, Path dir, HostLsm lsm, OciFlavor flavor)
            throws IOException {
        Path bundle = dir.resolve(flavor.name() + "-" + lsm.appArmor() + lsm.selinuxEnforcing());
        new BundleWriter(json, SeccompProfile.loadDefault(json), Path.of("/opt/agent/mcp-agent"), lsm)
                .write(bundle, spec, flavor, dir, 200_000);
        return json.readTree(bundle.resolve("config.json").toFile()).path("process");
    }

    @Test
    void sandboxesRunUnderTheProfileWhereAppArmorIsEnforced() throws IOException {
        try (TestSandbox sandbox = TestSandbox.start()) {
            HostLsm lsm = sandbox.services().lsm();
            Assumptions.assumeTrue(lsm.appArmor(), "needs a host that enforces AppArmor; here: " + lsm.status());
            ExecutionResult r = sandbox.run(ExecutionRequest.builder().runtime("runc")
                    .command("cat", "/proc/self/attr/current").build());
            assertThat(r.stdout()).startsWith(HostLsm.PROFILE_NAME);
        }
    }
}
