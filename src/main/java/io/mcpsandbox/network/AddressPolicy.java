package io.mcpsandbox.network;

import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides whether this host may open a connection to an address on behalf of someone outside (a callback URL,
 * later a sandbox's network egress): the guard against server-side request forgery. Refused: loopback,
 * unspecified, private (RFC 1918, carrier-grade NAT, IPv6 unique local and site-local), link-local, cloud
 * metadata endpoints (named as such), multicast, broadcast, reserved blocks, every IPv6 form that carries a
 * refused IPv4 address (mapped, compatible, translated, 6to4, NAT64, Teredo), and the addresses of this
 * host's own interfaces (a public address of the host reaches its own services just like loopback).
 *
 * <p>Allowed on purpose: the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
 * 2001:db8::/32) and the benchmark range 198.18.0.0/15. No real service lives there, and tests put their
 * hosts there inside network namespaces they create themselves.
 *
 * <p>Thread-safe. The interface addresses are read at most every {@link #OWN_ADDRESSES_REFRESH_NANOS}.
 */
public final class AddressPolicy {
    private static final Logger log = LoggerFactory.getLogger(AddressPolicy.class);

    static final long OWN_ADDRESSES_REFRESH_NANOS = 5_000_000_000L;

    private final Supplier<Set<ByteBuffer>> ownAddressReader;
    private final LongSupplier nanoClock;
    private volatile OwnAddresses own;

    /** The policy for this host: its own addresses are read from {@link NetworkInterface}. */
    public AddressPolicy() {
        this(AddressPolicy::interfaceAddresses, System::nanoTime);
    }

    /** For tests: the host's own addresses from {@code ownAddressReader}, time from {@code nanoClock}. */
    AddressPolicy(Supplier<Set<ByteBuffer>> ownAddressReader, LongSupplier nanoClock) {
        this.ownAddressReader = ownAddressReader;
        this.nanoClock = nanoClock;
    }

    /** Why a connection to {@code address} is refused ("loopback", "private", ...), or empty when allowed. */
    public Optional<String> refusal(InetAddress address) {
        byte[] bytes = address.getAddress();
        String rangeRefusal = bytes.length == 4 ? ipv4Refusal(bytes) : ipv6Refusal(bytes);
        if (rangeRefusal != null) {
            return Optional.of(rangeRefusal);
        }
        if (ownAddresses().contains(ByteBuffer.wrap(bytes))) {
            return Optional.of("this host's own address");
        }
        return Optional.empty();
    }

    /** True when {@link #refusal} is empty. */
    public boolean allows(InetAddress address) {
        return refusal(address).isEmpty();
    }

    private static String ipv4Refusal(byte[] a) {
        int b0 = a[0] & 0xff;
        int b1 = a[1] & 0xff;
        int b2 = a[2] & 0xff;
        int b3 = a[3] & 0xff;
        if (b0 == 0) {
            return b1 == 0 && b2 == 0 && b3 == 0 ? "unspecified" : "reserved (this network, 0.0.0.0/8)";
        }
        if (b0 == 127) {
            return "loopback";
        }
        if (b0 == 10 || (b0 == 172 && (b1 & 0xf0) == 16) || (b0 == 192 && b1 == 168)) {
            return "private";
        }
        if (b0 == 100 && (b1 & 0xc0) == 64) {
            return "private (carrier-grade NAT, 100.64.0.0/10)";
        }
        if (b0 == 169 && b1 == 254) {
            // AWS, GCP, Azure, OpenStack, Oracle: .169.254; AWS ECS task metadata: .170.2; EKS pod identity: .170.23
            boolean metadata = (b2 == 169 && b3 == 254) || (b2 == 170 && (b3 == 2 || b3 == 23));
            return metadata ? "cloud metadata" : "link-local";
        }
        if (b0 == 192 && b1 == 0 && b2 == 0) {
            return "reserved (IETF protocol assignments, 192.0.0.0/24)";
        }
        if (b0 == 192 && b1 == 88 && b2 == 99) {
            return "reserved (6to4 relay anycast, 192.88.99.0/24)";
        }
        if (b0 >= 224 && b0 <= 239) {
            return "multicast";
        }
        if (b0 == 255 && b1 == 255 && b2 == 255 && b3 == 255) {
            return "broadcast";
        }
        if (b0 >= 240) {
            return "reserved (240.0.0.0/4)";
        }
        return null;
    }

    private static String ipv6Refusal(byte[] a) {
        if (isZero(a, 0, 16)) {
            return "unspecified";
        }
        if (isZero(a, 0, 15) && a[15] == 1) {
            return "loopback";
        }
        if (isZero(a, 0, 10) && (a[10] & 0xff) == 0xff && (a[11] & 0xff) == 0xff) {
            return embedded(a, 12, "IPv4-mapped", false);
        }
        if (isZero(a, 0, 8) && (a[8] & 0xff) == 0xff && (a[9] & 0xff) == 0xff && isZero(a, 10, 12)) {
            return embedded(a, 12, "IPv4-translated", true);
        }
        if (isZero(a, 0, 12)) {
            return embedded(a, 12, "IPv4-compatible", true);
        }
        int w0 = word(a, 0);
        if (w0 == 0x0064 && word(a, 2) == 0xff9b) {
            if (isZero(a, 4, 12)) {
                return embedded(a, 12, "NAT64", false);
            }
            if (word(a, 4) == 0x0001) {
                return "private (local-use NAT64, 64:ff9b:1::/48)";
            }
        }
        if (w0 == 0x2002) {
            return embedded(a, 2, "6to4", false);
        }
        if (w0 == 0x2001 && word(a, 2) == 0x0000) {
            // Teredo: the server's IPv4 address in bytes 4-7, the client's inverted in bytes 12-15.
            String server = embedded(a, 4, "Teredo server", false);
            byte[] client = new byte[4];
            for (int i = 0; i < 4; i++) {
                client[i] = (byte) ~a[12 + i];
            }
            String clientRefusal = ipv4Refusal(client);
            return server != null ? server : clientRefusal == null ? null : clientRefusal + " (in Teredo client)";
        }
        if (w0 == 0xfd00 && word(a, 2) == 0x0ec2 && isZero(a, 4, 14) && word(a, 14) == 0x0254) {
            return "cloud metadata";
        }
        if (w0 == 0x0100 && isZero(a, 2, 8)) {
            return "reserved (discard-only, 100::/64)";
        }
        if ((a[0] & 0xff) == 0xff) {
            return "multicast";
        }
        if ((w0 & 0xffc0) == 0xfe80) {
            return "link-local";
        }
        if ((w0 & 0xffc0) == 0xfec0) {
            return "private (site-local, fec0::/10)";
        }
        if ((a[0] & 0xfe) == 0xfc) {
            return "private (unique local, fc00::/7)";
        }
        if ((a[0] & 0xff) == 0) {
            return "reserved (::/8)";
        }
        return null;
    }

    /**
     * The refusal of the IPv4 address at {@code offset} inside an IPv6 one. {@code alwaysRefused}: the
     * deprecated forms no real route uses are refused even when the IPv4 address inside would be allowed.
     */
    private static String embedded(byte[] a, int offset, String form, boolean alwaysRefused) {
        String inner = ipv4Refusal(Arrays.copyOfRange(a, offset, offset + 4));
        if (inner != null) {
            return inner + " (in " + form + " IPv6)";
        }
        return alwaysRefused ? "reserved (" + form + " IPv6)" : null;
    }

    private static boolean isZero(byte[] a, int from, int to) {
        for (int i = from; i < to; i++) {
            if (a[i] != 0) {
                return false;
            }
        }
        return true;
    }

    private static int word(byte[] a, int offset) {
        return ((a[offset] & 0xff) << 8) | (a[offset + 1] & 0xff);
    }

    private Set<ByteBuffer> ownAddresses() {
        long now = nanoClock.getAsLong();
        OwnAddresses current = own;
        if (current == null || now - current.readAtNanos() >= OWN_ADDRESSES_REFRESH_NANOS) {
            current = new OwnAddresses(ownAddressReader.get(), now);
            own = current;
        }
        return current.addresses();
    }

    private static Set<ByteBuffer> interfaceAddresses() {
        Set<ByteBuffer> addresses = new HashSet<>();
        try {
            NetworkInterface.networkInterfaces().forEach(nic -> nic.inetAddresses()
                    .forEach(address -> addresses.add(ByteBuffer.wrap(address.getAddress()))));
        } catch (SocketException e) {
            // Not fatal: every loopback, private and link-local address is refused by range anyway.
            log.warn("Could not list this host's network interfaces: {}", e.toString());
        }
        return Set.copyOf(addresses);
    }

    private record OwnAddresses(Set<ByteBuffer> addresses, long readAtNanos) {
    }
}
