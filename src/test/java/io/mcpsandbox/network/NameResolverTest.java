package io.mcpsandbox.network;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.Settings;
import java.net.InetAddress;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class NameResolverTest {

    private static NameResolver resolver(String answers) {
        return new NameResolver(new Settings(new Properties(), Map.of("MCP_SANDBOX_NETWORK_RESOLVE", answers)));
    }

    @Test
    void staticAnswersAnswerTheirNamesOnlyFromTheSetting() throws Exception {
        NameResolver resolver = resolver(" api.test=198.18.0.5 , Multi.Test=192.0.2.1,multi.test=2001:db8::2 ,");
        assertThat(resolver.resolve("api.test")).containsExactly(InetAddress.getByName("198.18.0.5"));
        assertThat(resolver.resolve("API.Test.")).containsExactly(InetAddress.getByName("198.18.0.5"));
        assertThat(resolver.resolve("multi.test"))
                .containsExactly(InetAddress.getByName("192.0.2.1"), InetAddress.getByName("2001:db8::2"));
    }

    @Test
    void theSettingIsReadFromThePropertiesFileToo() throws Exception {
        Properties file = new Properties();
        file.setProperty("network.resolve", "file.test=203.0.113.4");
        NameResolver resolver = new NameResolver(new Settings(file, Map.of()));
        assertThat(resolver.resolve("file.test")).containsExactly(InetAddress.getByName("203.0.113.4"));
    }

    @Test
    void literalsAreParsedWithoutDns() throws Exception {
        NameResolver resolver = resolver("");
        assertThat(resolver.resolve("198.51.100.20")).containsExactly(InetAddress.getByName("198.51.100.20"));
        assertThat(resolver.resolve("[2001:db8::1]")).containsExactly(InetAddress.getByName("2001:db8::1"));
        assertThat(resolver.resolve("2001:DB8::1")).containsExactly(InetAddress.getByName("2001:db8::1"));
        assertThat(resolver.resolve("::ffff:127.0.0.1")).containsExactly(InetAddress.getByName("127.0.0.1"));
        assertThat(NameResolver.isLiteral("0.0.0.0")).isTrue();
        assertThat(NameResolver.isLiteral("example.org")).isFalse();
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "0x7f.1", "0x7f000001", "2130706433", "0177.0.0.1", "127.1", "127.0.1", "127.0.0.01", "256.0.0.1",
        "1.2.3.4.5", "127.0.0.1.", "[127.0.0.1]", "::ffff:0177.0.0.1", "fe80::1%eth0", "[fe80::1%25eth0]",
        "1:2:3:4:5:6:7:8:9", "::g", "a..b", "-a.org", "a b.org", "ex\u00e4mple.org", "", "foo.0x10",
        "foo.123",
    })
    void refusesHostsThatAreNeitherAStrictLiteralNorAName(String host) {
        NameResolver resolver = resolver("");
        assertThatThrownBy(() -> resolver.resolve(host)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("malformed host");
    }

    @Test
    void aVeryLongHostIsRefusedAndTheMessageIsShort() {
        // 255 characters: two over the DNS limit (never sent to the system resolver)
        String host = ("a".repeat(62) + ".").repeat(4) + "org";
        assertThat(host).hasSize(255);
        assertThatThrownBy(() -> resolver("").resolve(host)).isInstanceOf(IllegalArgumentException.class)
                .satisfies(e -> assertThat(e.getMessage().length()).isLessThan(160));
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "api.test", "api.test=", "=1.2.3.4", "api.test=not-an-address", "api.test=0177.0.0.1",
        "1.2.3.4=5.6.7.8", "bad name=1.2.3.4", "a.test=1.2.3.4=5",
    })
    void aMalformedSettingNamesTheKeyAndTheEntry(String entry) {
        assertThatThrownBy(() -> resolver("ok.test=192.0.2.1," + entry))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("network.resolve")
                .hasMessageContaining("'" + entry + "'");
    }
}
