package io.mcpsandbox.network;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.util.HexFormat;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class AddressPolicyTest {
    private final AddressPolicy policy = new AddressPolicy(Set::of, System::nanoTime);

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "127.0.0.1        | loopback",
        "127.255.255.254  | loopback",
        "0.0.0.0          | unspecified",
        "0.1.2.3          | reserved",
        "10.0.0.1         | private",
        "10.255.255.255   | private",
        "172.16.0.1       | private",
        "172.31.255.255   | private",
        "192.168.1.1      | private",
        "100.64.0.1       | private",
        "100.127.255.255  | private",
        "169.254.0.1      | link-local",
        "169.254.169.254  | cloud metadata",
        "169.254.170.2    | cloud metadata",
        "192.0.0.1        | reserved",
        "224.0.0.1        | multicast",
        "239.255.255.250  | multicast",
        "255.255.255.255  | broadcast",
        "240.0.0.1        | reserved",
        "::               | unspecified",
        "::1              | loopback",
        "fe80::1          | link-local",
        "febf::1          | link-local",
        "fec0::1          | private",
        "fc00::1          | private",
        "fdff::1          | private",
        "fd00:ec2::254    | cloud metadata",
        "ff02::1          | multicast",
        "100::1           | reserved",
        "64:ff9b:1::1     | private",
    })
    void refusesEachRangeWithItsReason(String address, String reason) throws Exception {
        assertThat(policy.refusal(InetAddress.getByName(address)))
                .hasValueSatisfying(r -> assertThat(r).startsWith(reason));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        // IPv4-mapped, built as an Inet6Address (java.net would turn the text form into an Inet4Address)
        "00000000000000000000ffff7f000001 | loopback",
        "00000000000000000000ffffa9fea9fe | cloud metadata",
        // IPv4-compatible ::127.0.0.1 and ::10.0.0.1
        "0000000000000000000000007f000001 | loopback",
        "0000000000000000000000000a000001 | private",
        // IPv4-translated ::ffff:0:127.0.0.1
        "0000000000000000ffff00007f000001 | loopback",
        // NAT64 64:ff9b::127.0.0.1 and 64:ff9b::169.254.169.254
        "0064ff9b00000000000000007f000001 | loopback",
        "0064ff9b0000000000000000a9fea9fe | cloud metadata",
        // 6to4 2002:7f00:0001::1 and 2002:c0a8:0101::1
        "20027f00000100000000000000000001 | loopback",
        "2002c0a8010100000000000000000001 | private",
        // Teredo: server 127.0.0.1; client 10.0.0.1 inverted (f5ff:fffe)
        "20010000 7f000001 0000000000000000 | loopback",
        "20010000 08080808 00000000 f5fffffe | private",
    })
    void refusesRefusedIpv4InsideEveryIpv6Embedding(String hex, String reason) throws Exception {
        byte[] bytes = HexFormat.of().parseHex(hex.replace(" ", ""));
        InetAddress address = Inet6Address.getByAddress(null, bytes, -1);
        assertThat(address).isInstanceOf(Inet6Address.class);
        assertThat(policy.refusal(address)).hasValueSatisfying(r -> assertThat(r).startsWith(reason));
    }

    @Test
    void mappedTextFormIsTheIpv4AddressItCarries() throws Exception {
        assertThat(policy.refusal(InetAddress.getByName("::ffff:127.0.0.1"))).contains("loopback");
        assertThat(policy.refusal(InetAddress.getByName("::ffff:169.254.169.254"))).contains("cloud metadata");
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "192.0.2.10", "198.51.100.7", "203.0.113.200", "198.18.77.2", "198.19.255.254", "2001:db8::1",
        "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "172.32.0.1",
        "100.128.0.1", "169.253.255.255", "192.0.1.1",
    })
    void allowsPublicDocumentationAndBenchmarkAddresses(String address) throws Exception {
        assertThat(policy.refusal(InetAddress.getByName(address))).isEmpty();
    }

    @Test
    void refusesThisHostsOwnAddressesAndRereadsThemAfterAWhile() throws Exception {
        InetAddress own = InetAddress.getByName("203.0.113.9");
        AtomicLong now = new AtomicLong();
        AtomicInteger reads = new AtomicInteger();
        AddressPolicy withOwn = new AddressPolicy(() -> {
            reads.incrementAndGet();
            return Set.of(ByteBuffer.wrap(own.getAddress()));
        }, now::get);

        assertThat(withOwn.refusal(own)).contains("this host's own address");
        assertThat(withOwn.refusal(InetAddress.getByName("203.0.113.10"))).isEmpty();
        assertThat(reads).hasValue(1);
        now.addAndGet(AddressPolicy.OWN_ADDRESSES_REFRESH_NANOS);
        withOwn.allows(own);
        assertThat(reads).hasValue(2);
    }

    @Test
    void readsTheRealInterfacesOfThisHost() throws Exception {
        AddressPolicy real = new AddressPolicy();
        for (NetworkInterface nic : NetworkInterface.networkInterfaces().toList()) {
            for (InetAddress address : nic.inetAddresses().toList()) {
                assertThat(real.allows(address)).as(address.toString()).isFalse();
            }
        }
    }

    @Test
    void ipv6WithAScopeIsJudgedByItsAddress() throws UnknownHostException {
        InetAddress scoped = Inet6Address.getByAddress(null, InetAddress.getByName("fe80::1").getAddress(), 2);
        assertThat(policy.refusal(scoped)).contains("link-local");
    }
}
