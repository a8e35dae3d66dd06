package io.mcpsandbox.network;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CidrBlockTest {

    @Test
    void containsAddressesInsideTheBlockOfTheSameFamily() throws Exception {
        CidrBlock block = CidrBlock.parse("203.0.113.0/25");
        assertThat(block.contains(InetAddress.getByName("203.0.113.0"))).isTrue();
        assertThat(block.contains(InetAddress.getByName("203.0.113.127"))).isTrue();
        assertThat(block.contains(InetAddress.getByName("203.0.113.128"))).isFalse();
        assertThat(block.contains(InetAddress.getByName("::ffff:203.0.113.1"))).isTrue(); // java maps it to IPv4
        assertThat(CidrBlock.parse("2001:db8::/32").contains(InetAddress.getByName("2001:db8:1::5"))).isTrue();
        assertThat(CidrBlock.parse("2001:db8::/32").contains(InetAddress.getByName("203.0.113.1"))).isFalse();
        assertThat(CidrBlock.parse("198.18.0.5").contains(InetAddress.getByName("198.18.0.5"))).isTrue();
        assertThat(CidrBlock.parse("198.18.0.5").contains(InetAddress.getByName("198.18.0.6"))).isFalse();
    }

    @ParameterizedTest
    @ValueSource(strings = {"example.org/24", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "10.0.0.0/1a",
        "::/129", "0177.0.0.1/8", "10.1/8", "10.0.0.0/0008"})
    void refusesMalformedBlocks(String entry) {
        assertThatThrownBy(() -> CidrBlock.parse(entry)).isInstanceOf(IllegalArgumentException.class);
    }
}
