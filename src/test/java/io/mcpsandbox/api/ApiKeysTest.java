package io.mcpsandbox.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.api.http.ApiKeys;
import io.mcpsandbox.config.ServerConfig;
import java.util.List;
import org.junit.jupiter.api.Test;

class ApiKeysTest {
    private static final String T1 = "0123456789abcdef0123";
    private static final String T2 = "fedcba9876543210fedc";

    @Test
    void keysMapToTheirUsersAndAnythingElseIsRefused() {
        ApiKeys keys = ApiKeys.of(ServerConfig.parseKeys(T1 + ":alice, " + T2 + ":bob"));
        assertThat(keys.authenticate("Bearer " + T1)).hasValue("alice");
        assertThat(keys.authenticate("bearer " + T2)).hasValue("bob");
        assertThat(keys.authenticate(null)).isEmpty();
        assertThat(keys.authenticate("Basic " + T1)).isEmpty();
        assertThat(keys.authenticate("Bearer " + T1.substring(1))).isEmpty();
        assertThat(keys.authenticate("Bearer ")).isEmpty();
        assertThat(keys.authenticate(T1)).isEmpty();
    }

    @Test
    void anAdminKeySaysSoAndAUserNamedAdminIsStillAUser() {
        ApiKeys keys = ApiKeys.of(ServerConfig.parseKeys(T1 + ":root:admin, " + T2 + ":admin"));
        assertThat(keys.caller("Bearer " + T1)).contains(new ApiKeys.Caller("root", true));
        assertThat(keys.caller("Bearer " + T2)).contains(new ApiKeys.Caller("admin", false));
        assertThat(ServerConfig.parseKeys(T1 + ":root:admin").toString()).contains("admin").doesNotContain(T1);
        assertThat(ApiKeys.insecure("anonymous").caller(null)).contains(new ApiKeys.Caller("anonymous", false));
    }

    @Test
    void badKeyConfigurationIsRefusedWithoutShowingTheToken() {
        assertThatThrownBy(() -> ServerConfig.parseKeys("tooshort:alice")).hasMessageContaining("entry 1")
                .hasMessageNotContaining("tooshort");
        assertThatThrownBy(() -> ServerConfig.parseKeys(T1 + ":al ice")).hasMessageContaining("user id");
        assertThatThrownBy(() -> ServerConfig.parseKeys(T1 + ":a," + T1 + ":b")).hasMessageContaining("twice")
                .hasMessageNotContaining(T1);
        assertThatThrownBy(() -> ServerConfig.parseKeys(T1)).hasMessageContaining("TOKEN:USER_ID")
                .hasMessageNotContaining(T1);
        assertThat(ServerConfig.parseKeys("")).isEmpty();
        assertThat(ServerConfig.parseKeys(T1 + ":alice").toString()).doesNotContain(T1);
    }

    @Test
    void machineDefaultsScaleWithCoresAndMemory() {
        ServerConfig.AdmissionLimits small = ServerConfig.machineDefaults(2, 4L << 30, 256L << 20);
        assertThat(small.maxConcurrent()).isEqualTo(8);
        // 8 clients of one user run at once, and as many more of theirs wait instead of being refused
        assertThat(small.maxPerUser()).isEqualTo(16);
        assertThat(small.queueSize()).isEqualTo(32);
        assertThat(ServerConfig.machineDefaults(1, 4L << 30, 256L << 20).maxConcurrent()).isEqualTo(8);
        assertThat(ServerConfig.machineDefaults(8, 64L << 30, 256L << 20).maxConcurrent()).isEqualTo(32);
        assertThat(ServerConfig.machineDefaults(512, 1L << 40, 256L << 20).maxConcurrent()).isEqualTo(256);
        ServerConfig.AdmissionLimits tight = ServerConfig.machineDefaults(16, 1L << 30, 256L << 20);
        assertThat(tight.maxConcurrent()).isEqualTo(2); // memory wins over cores and the floor
        assertThat(tight.maxPerUser()).isEqualTo(4);
        assertThat(List.of(small.queueSize(), tight.queueSize())).allMatch(q -> q > 0);
    }
}
