package io.mcpsandbox.callback;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.network.AddressPolicy;
import io.mcpsandbox.network.NameResolver;
import java.net.URI;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Every name here resolves through network.resolve answers: no test reaches the machine's DNS. */
class CallbackPolicyTest {
    private static final String ANSWERS = "hooks.example.org=198.18.0.10,a.b.example.org=203.0.113.5,"
            + "example.org=192.0.2.1,rebind.example.org=10.0.0.1,evil.example.org=203.0.113.6,"
            + "evil.example.org=127.0.0.1,meta.example.org=169.254.169.254,other.test=192.0.2.2";
    private static final String ALLOWED = "hooks.example.org, *.b.example.org, rebind.example.org,"
            + "evil.example.org, meta.example.org, 127.0.0.1, ::1, 169.254.169.254, 203.0.113.50, 2001:DB8::7,"
            + "::ffff:127.0.0.1";

    @TempDir
    Path dataDir;

    private CallbackPolicy policy(String allowed) {
        Map<String, String> env = new HashMap<>();
        env.put("MCP_SANDBOX_NETWORK_RESOLVE", ANSWERS);
        env.put("MCP_SANDBOX_CALLBACKS_ALLOWED_HOSTS", allowed);
        Settings settings = new Settings(new Properties(), env);
        return new CallbackPolicy(CallbackSettings.from(settings, dataDir), new NameResolver(settings),
                new AddressPolicy());
    }

    @Test
    void acceptsAllowlistedHostsAndNormalizesTheUrl() throws Exception {
        CallbackPolicy policy = policy(ALLOWED);
        assertThat(policy.check("HTTPS://Hooks.Example.Org/done?token=a%20b"))
                .isEqualTo(URI.create("https://hooks.example.org/done?token=a%20b"));
        assertThat(policy.check("http://hooks.example.org:8080"))
                .isEqualTo(URI.create("http://hooks.example.org:8080/"));
        assertThat(policy.check("http://203.0.113.50/x")).isEqualTo(URI.create("http://203.0.113.50/x"));
        assertThat(policy.check("http://[2001:DB8:0::7]:81/x")).isEqualTo(URI.create("http://[2001:db8:0::7]:81/x"));
    }

    @Test
    void aWildcardCoversSubdomainsNotTheDomainItself() throws Exception {
        CallbackPolicy policy = policy("*.example.org");
        assertThat(policy.check("https://hooks.example.org/")).hasHost("hooks.example.org");
        assertThat(policy.check("https://a.b.example.org/")).hasHost("a.b.example.org");
        assertRefused(policy, "https://example.org/", "not on callbacks.allowed-hosts");
        assertRefused(policy, "https://other.test/", "not on callbacks.allowed-hosts");
        assertRefused(policy, "https://hooks.example.org.other.test/", "not on callbacks.allowed-hosts");
        assertRefused(policy, "https://evilexample.org/", "not on callbacks.allowed-hosts");
    }

    @Test
    void withoutAnAllowlistEveryUrlIsRefusedWithTheSettingToSet() {
        assertRefused(policy(""), "https://hooks.example.org/", "callbacks.allowed-hosts");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "ftp://hooks.example.org/                    | http or https",
        "file:///etc/passwd                          | http or https",
        "gopher://hooks.example.org/                 | http or https",
        "hooks.example.org/x                         | http or https",
        "https://user:pw@hooks.example.org/          | user info",
        "https://hooks.example.org@127.0.0.1/        | user info",
        "https://hooks.example.org/#frag             | fragment",
        "https://hooks.example.org:0/                | port",
        "https://hooks.example.org:99999/            | port",
        "https:///path                               | no host",
        "https://exa_mple..org/                      | not a valid URL",
        "http://hooks.example.org /                  | not a valid URL",
        "https://other.test/                         | not on callbacks.allowed-hosts",
        "https://0x7f.1/                             | not a valid URL",
        "https://2130706433/                         | malformed",
        "https://0177.0.0.1/                         | malformed",
    })
    void refusesUrlsThatAreNotPlainHttpToAnAllowedHost(String url, String reason) {
        assertRefused(policy(ALLOWED), url, reason);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "http://127.0.0.1/                  | loopback",
        "http://[::1]:8080/                 | loopback",
        "http://169.254.169.254/latest/     | cloud metadata",
        "http://[::ffff:127.0.0.1]/         | loopback",
        "http://rebind.example.org/         | private",
        "http://meta.example.org/           | cloud metadata",
        "http://evil.example.org/           | loopback",
    })
    void refusesRefusedAddressesEvenWhenAllowlisted(String url, String reason) {
        assertRefused(policy(ALLOWED), url, "refused address (" + reason);
    }

    @Test
    void refusesTooLongUrlsWithoutEchoingThem() {
        String url = "https://hooks.example.org/" + "x".repeat(CallbackPolicy.MAX_URL_LENGTH);
        assertRefused(policy(ALLOWED), url, "longer than 2048");
        String longHost = "https://" + "h".repeat(63) + "." + "o".repeat(63) + ".example.org/";
        assertThatThrownBy(() -> policy(ALLOWED).check(longHost)).isInstanceOf(CallbackRefused.class)
                .satisfies(e -> assertThat(e.getMessage().length()).isLessThan(200));
    }

    @Test
    void theLongestAcceptedUrlIsExactlyTheLimit() throws Exception {
        String prefix = "https://hooks.example.org/";
        String url = prefix + "x".repeat(CallbackPolicy.MAX_URL_LENGTH - prefix.length());
        assertThat(policy(ALLOWED).check(url).toString()).hasSize(CallbackPolicy.MAX_URL_LENGTH);
    }

    @Test
    void aBadAllowlistEntryIsASettingError() {
        assertThatThrownBy(() -> policy("*")).hasMessageContaining("callbacks.allowed-hosts");
        assertThatThrownBy(() -> policy("a.*.org")).hasMessageContaining("callbacks.allowed-hosts");
        assertThatThrownBy(() -> policy("*.10.0.0.1")).hasMessageContaining("callbacks.allowed-hosts");
        assertThatThrownBy(() -> policy("0x7f.1")).hasMessageContaining("callbacks.allowed-hosts");
    }

    private static void assertRefused(CallbackPolicy policy, String url, String reason) {
        assertThatThrownBy(() -> policy.check(url)).isInstanceOf(CallbackRefused.class)
                .hasMessageContaining(reason);
    }
}
