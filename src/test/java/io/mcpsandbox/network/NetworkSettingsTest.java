package io.mcpsandbox.network;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.policy.PolicyViolation;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.junit.jupiter.api.Test;

class NetworkSettingsTest {

    private static NetworkSettings settings(Map<String, String> file, Map<String, String> env) {
        Properties properties = new Properties();
        properties.putAll(file);
        return new NetworkSettings(new Settings(properties, env));
    }

    private static NetworkSettings settings(Map<String, String> file) {
        return settings(file, Map.of());
    }

    @Test
    void defaultsAreOffWithPortsAndCaps() throws Exception {
        NetworkSettings off = settings(Map.of());
        assertThat(off.enabled()).isFalse();
        assertThat(off.policyFor("u", NetworkRequest.OFF)).isEmpty();
        assertThatThrownBy(() -> off.policyFor("u", new NetworkRequest(true, List.of())))
                .isInstanceOf(PolicyViolation.class).hasMessageContaining("network.enabled");

        EgressPolicy policy = settings(Map.of("network.enabled", "true")).policyFor("u",
                new NetworkRequest(true, List.of())).orElseThrow();
        assertThat(policy.ports()).containsExactlyInAnyOrder(80, 443);
        assertThat(policy.domains()).isEmpty();
        assertThat(policy.cidrs()).isEmpty();
        assertThat(policy.maxConnections()).isEqualTo(32);
        assertThat(policy.maxBytes()).isEqualTo(1L << 30);
        assertThat(policy.bandwidth()).isEqualTo(10L << 20);
    }

    @Test
    void readsListsCapsAndSecretHeadersAndHidesTheSecret() throws Exception {
        NetworkSettings s = settings(Map.of(
                "network.enabled", "true",
                "network.allowed-domains", "pypi.org, *.pythonhosted.org",
                "network.allowed-cidrs", "203.0.113.0/24",
                "network.allowed-ports", "443",
                "network.max-connections", "4",
                "network.max-bytes", "10m",
                "network.bandwidth", "0",
                "network.dns-servers", "192.0.2.53",
                "network.secret-header.API.test", "Authorization: Bearer s3cret"));
        EgressPolicy policy = s.policyFor("u", new NetworkRequest(true, List.of())).orElseThrow();
        assertThat(policy.domains()).extracting(DomainPattern::toString)
                .containsExactly("pypi.org", "*.pythonhosted.org");
        assertThat(policy.cidrs()).extracting(CidrBlock::toString).containsExactly("203.0.113.0/24");
        assertThat(policy.ports()).containsExactly(443);
        assertThat(policy.maxConnections()).isEqualTo(4);
        assertThat(policy.maxBytes()).isEqualTo(10L << 20);
        assertThat(policy.bandwidth()).isZero();
        assertThat(s.dnsServers()).extracting(a -> a.getHostAddress()).containsExactly("192.0.2.53");
        assertThat(policy.secretHeadersFor("api.test")).containsExactly(
                new SecretHeader("Authorization", "Bearer s3cret"));
        assertThat(policy.secretHeadersFor("other.test")).isEmpty();
        assertThat(policy.toString()).doesNotContain("s3cret");
    }

    @Test
    void aRequestNarrowsTheServersListAndCannotWidenIt() throws Exception {
        NetworkSettings s = settings(Map.of("network.enabled", "true",
                "network.allowed-domains", "pypi.org,*.pythonhosted.org,*.example.org",
                "network.allowed-cidrs", "203.0.113.0/24"));
        EgressPolicy narrowed = s.policyFor("u", new NetworkRequest(true,
                List.of("PyPI.org", "files.pythonhosted.org", "*.a.example.org"))).orElseThrow();
        assertThat(narrowed.domains()).extracting(DomainPattern::toString)
                .containsExactly("pypi.org", "files.pythonhosted.org", "*.a.example.org");
        assertThat(narrowed.cidrs()).isEmpty();

        for (String wider : List.of("evil.org", "*.pypi.org", "pythonhosted.org", "example.org", "*.org",
                "203.0.113.5", "*", "a b.org")) {
            assertThatThrownBy(() -> s.policyFor("u", new NetworkRequest(true, List.of("pypi.org", wider))))
                    .as(wider).isInstanceOfSatisfying(PolicyViolation.class,
                            v -> assertThat(v.field()).isEqualTo("network"));
        }
        assertThatThrownBy(() -> s.policyFor("u", new NetworkRequest(true, List.of("evil.org"))))
                .hasMessageContaining("evil.org is not in the server's network.allowed-domains");
        List<String> tooMany = java.util.Collections.nCopies(NetworkSettings.MAX_ALLOW_ENTRIES + 1, "pypi.org");
        assertThatThrownBy(() -> s.policyFor("u", new NetworkRequest(true, tooMany)))
                .isInstanceOf(PolicyViolation.class);
    }

    @Test
    void perUserListsReplaceTheServersForThatUserOnly() throws Exception {
        NetworkSettings s = settings(Map.of("network.enabled", "true",
                "network.allowed-domains", "pypi.org",
                "network.user.alice.allowed-domains", "api.test",
                "network.user.alice.allowed-ports", "8443"),
                Map.of("MCP_SANDBOX_NETWORK_USER_BOB_ALLOWED_CIDRS", "198.18.0.0/15"));
        EgressPolicy alice = s.policyFor("alice", new NetworkRequest(true, List.of())).orElseThrow();
        assertThat(alice.domains()).extracting(DomainPattern::toString).containsExactly("api.test");
        assertThat(alice.ports()).containsExactly(8443);
        EgressPolicy bob = s.policyFor("bob", new NetworkRequest(true, List.of())).orElseThrow();
        assertThat(bob.domains()).extracting(DomainPattern::toString).containsExactly("pypi.org");
        assertThat(bob.cidrs()).extracting(CidrBlock::toString).containsExactly("198.18.0.0/15");
        assertThat(bob.ports()).isEqualTo(Set.of(80, 443));
        assertThatThrownBy(() -> s.policyFor("alice", new NetworkRequest(true, List.of("pypi.org"))))
                .isInstanceOf(PolicyViolation.class);
    }

    @Test
    void malformedSettingsFailAtStartNamingTheKey() {
        for (Map<String, String> bad : List.of(
                Map.of("network.allowed-domains", "pypi.org,*"),
                Map.of("network.allowed-cidrs", "10.0.0.0/40"),
                Map.of("network.allowed-ports", "0"),
                Map.of("network.allowed-ports", "65536"),
                Map.of("network.dns-servers", "dns.google"),
                Map.of("network.max-connections", "0"),
                Map.of("network.enabled", "yes"),
                Map.of("network.secret-header.10.0.0.1", "X-Token: a"),
                Map.of("network.secret-header.api.test", "no colon"),
                Map.of("network.secret-header.api.test", "X-Token: a\r\nHost: evil"),
                Map.of("network.secret-header.api.test", "Bad Name: a"),
                Map.of("network.user.alice.allowed-domains", "*"),
                Map.of("network.user.alice.typo", "x"))) {
            String key = bad.keySet().iterator().next();
            assertThatThrownBy(() -> settings(bad)).as(bad.toString())
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(key.replace(".typo", ""));
        }
    }
}
