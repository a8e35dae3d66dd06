package io.mcpsandbox.runtime.oci;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.SeccompProfile;
import io.mcpsandbox.runtime.WritableRoot;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A writable root's overlays in the OCI bundle: read-write binds over a root that stays read-only, each after
 * the read-only bind that holds it and before the host binds below it.
 */
class WritableRootBundleTest {
    private final JsonMapper json = JsonMapper.builder().build();

    @TempDir
    Path dir;

    private JsonNode write(OciFlavor flavor, List<WritableRoot.Tree> writable) throws Exception {
        BundleWriter writer = new BundleWriter(json, SeccompProfile.loadDefault(json), Path.of("/opt/agent"),
                HostLsm.none("test"));
        RootFilesystem rootfs = new RootFilesystem("host", dir.resolve("root"), List.of(
                new RootFilesystem.HostBind(Path.of("/usr"), "/usr"),
                new RootFilesystem.HostBind(Path.of("/etc/ssl"), "/etc/ssl")));
        SandboxSpec spec = new SandboxSpec("mcp-exec-test", rootfs,
                new ResourceLimits(Duration.ofSeconds(5), 64 << 20, 1, 32, 1 << 20, 8 << 20, 256), Map.of(),
                32 << 20);
        Path bundle = dir.resolve(flavor.name());
        writer.write(bundle, spec, flavor, dir.resolve("ws"), 200_000, writable);
        return json.readTree(Files.readString(bundle.resolve("config.json")));
    }

    @Test
    void overlaysAreReadWriteBindsInParentOrderOverAReadOnlyRoot() throws Exception {
        List<WritableRoot.Tree> trees = List.of(new WritableRoot.Tree(dir.resolve("tree-0"), "/etc"),
                new WritableRoot.Tree(dir.resolve("tree-1"), "/usr/local"));
        for (OciFlavor flavor : List.of(OciFlavor.RUNC, OciFlavor.RUNSC)) {
            JsonNode config = write(flavor, trees);
            assertThat(config.get("root").get("readonly").asBoolean()).isTrue();
            List<String> order = new ArrayList<>();
            for (JsonNode m : config.get("mounts")) {
                String destination = m.get("destination").asString();
                List<String> options = m.get("options").valueStream().map(JsonNode::asString).toList();
                if (List.of("/usr", "/etc", "/usr/local", "/etc/ssl").contains(destination)) {
                    order.add(destination);
                }
                if (destination.equals("/etc") || destination.equals("/usr/local")) {
                    assertThat(options).contains("rw", "nosuid", "nodev").doesNotContain("ro", "rro");
                    assertThat(m.get("source").asString()).startsWith(dir.resolve("tree-").toString());
                }
                if (destination.equals("/usr") || destination.equals("/etc/ssl")) {
                    assertThat(options).containsAnyOf("ro", "rro");
                }
            }
            assertThat(order.indexOf("/usr")).isLessThan(order.indexOf("/usr/local"));
            assertThat(order.indexOf("/etc")).isLessThan(order.indexOf("/etc/ssl"));
        }
    }

    @Test
    void aReadOnlyRootHasNoReadWriteBindOutsideItsTmpfsAndWorkspace() throws Exception {
        JsonNode config = write(OciFlavor.RUNC, List.of());
        for (JsonNode m : config.get("mounts")) {
            List<String> options = m.get("options").valueStream().map(JsonNode::asString).toList();
            if (m.get("type").asString().equals("bind") && options.contains("rw")) {
                assertThat(m.get("destination").asString()).isEqualTo(SandboxSpec.WORKSPACE);
            }
        }
    }
}
