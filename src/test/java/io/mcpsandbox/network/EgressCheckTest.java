package io.mcpsandbox.network;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.config.Settings;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** decide() without sockets: names resolve only through network.resolve answers (the system resolver fails). */
class EgressCheckTest {
    private static final String ANSWERS = "pypi.test=198.18.0.5,files.pypi.test=198.18.0.6,"
            + "rebind.test=127.0.0.1,half.test=198.18.0.7,half.test=10.0.0.1,meta.test=169.254.169.254,"
            + "meta6.test=fd00:ec2::254,own.test=203.0.113.77,multi.test=224.0.0.1,v6.test=2001:db8::5";
    private static final String OWN_ADDRESS = "203.0.113.77";

    private final EgressCheck check = check(List.of("pypi.test", "*.pypi.test", "rebind.test", "half.test",
            "meta.test", "meta6.test", "own.test", "multi.test", "v6.test", "nowhere.test"),
            List.of("198.18.0.0/15", "10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/0", "::/0"));

    private static EgressCheck check(List<String> domains, List<String> cidrs) {
        EgressPolicy policy = new EgressPolicy(domains.stream().map(DomainPattern::parse).toList(),
                cidrs.stream().map(CidrBlock::parse).toList(), Set.of(80, 443), Map.of(), 32, 1 << 20, 0);
        Properties file = new Properties();
        file.setProperty(NameResolver.SETTING, ANSWERS);
        EgressResolver resolver = new EgressResolver(new NameResolver(new Settings(file, Map.of())), List.of()) {
            @Override
            public List<InetAddress> resolve(String name) throws UnknownHostException {
                if (name.equals("nowhere.test")) {
                    throw new UnknownHostException(name); // never the machine's DNS in a test
                }
                return super.resolve(name);
            }
        };
        AddressPolicy addresses = new AddressPolicy(() -> Set.of(ByteBuffer.wrap(address(OWN_ADDRESS))),
                System::nanoTime);
        return new EgressCheck(policy, resolver, addresses);
    }

    private static byte[] address(String literal) {
        return NameResolver.parseLiteral(literal).getAddress();
    }

    @Test
    void allowsAnAllowedNameWithItsCheckedAddresses() throws Exception {
        EgressDecision decision = check.decide("PyPI.test.", 443);
        assertThat(decision.isAllowed()).isTrue();
        assertThat(decision.target()).isEqualTo("pypi.test:443");
        assertThat(decision.addresses()).containsExactly(InetAddress.getByName("198.18.0.5"));
        assertThat(check.decide("files.pypi.test", 80).isAllowed()).isTrue();
        assertThat(check.decide("v6.test", 80).addresses()).containsExactly(InetAddress.getByName("2001:db8::5"));
    }

    @Test
    void allowsALiteralInsideAnAllowedCidr() {
        assertThat(check.decide("198.18.3.4", 443).isAllowed()).isTrue();
        assertThat(check.decide("[2001:db8::9]", 443).isAllowed()).isTrue();
        assertThat(check.decide("[2001:db8::9]", 443).target()).isEqualTo("[2001:db8:0:0:0:0:0:9]:443");
        EgressCheck narrow = check(List.of(), List.of("198.18.0.0/24"));
        assertThat(narrow.decide("198.18.1.4", 443).refusal()).contains("not in network.allowed-cidrs");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "pypi.test        | 22  | port 22 is not in network.allowed-ports",
        "pypi.test        | 0   | port 0",
        "pypi.test        | 70000 | port 70000",
        "evil.test        | 443 | not in network.allowed-domains",
        "pypi.test.evil   | 443 | not in network.allowed-domains",
        "xpypi.test       | 443 | not in network.allowed-domains",
        "nowhere.test     | 443 | does not resolve",
        "rebind.test      | 443 | resolves to a refused address (127.0.0.1: loopback)",
        "half.test        | 443 | resolves to a refused address (10.0.0.1: private)",
        "meta.test        | 80  | cloud metadata",
        "meta6.test       | 80  | cloud metadata",
        "own.test         | 443 | this host's own address",
        "multi.test       | 443 | multicast",
        "169.254.169.254  | 80  | refused address (cloud metadata)",
        "[fd00:ec2::254]  | 80  | refused address (cloud metadata)",
        "10.1.2.3         | 443 | refused address (private)",
        "127.0.0.1        | 443 | refused address (loopback)",
        "[::1]            | 443 | refused address (loopback)",
        "[::ffff:127.0.0.1] | 443 | refused address (loopback)",
        "203.0.113.77     | 443 | refused address (this host's own address)",
        "224.0.0.251      | 443 | refused address (multicast)",
        "[ff02::1]        | 443 | refused address (multicast)",
        "0x7f.1           | 443 | malformed host",
        "2130706433       | 443 | malformed host",
        "0177.0.0.1       | 443 | malformed host",
        "a..test          | 443 | malformed host",
        "'pypi.test x'    | 443 | malformed host",
    })
    void refusesEveryClassBeforeAnySocketOpens(String host, int port, String reason) {
        // Every CIDR is allowed in this check: the refusals of AddressPolicy hold whatever the lists say.
        EgressDecision decision = check.decide(host, port);
        assertThat(decision.isAllowed()).as(host).isFalse();
        assertThat(decision.refusal()).contains(reason);
        assertThat(decision.addresses()).isEmpty();
    }

    @Test
    void wildcardDoesNotCoverTheApexAndALiteralIsNotANameMatch() {
        EgressCheck wildcardOnly = check(List.of("*.pypi.test"), List.of());
        assertThat(wildcardOnly.decide("files.pypi.test", 443).isAllowed()).isTrue();
        assertThat(wildcardOnly.decide("pypi.test", 443).refusal()).contains("not in network.allowed-domains");
        assertThat(wildcardOnly.decide("198.18.0.6", 443).refusal()).contains("not in network.allowed-cidrs");
    }

    @Test
    void aHostileHostIsShownBoundedAndPrintable() {
        EgressDecision decision = check.decide("a\r\nb".repeat(100), 443);
        assertThat(decision.refusal()).isEqualTo("malformed host");
        assertThat(decision.target()).hasSizeLessThan(120).doesNotContain("\r", "\n");
    }
}
