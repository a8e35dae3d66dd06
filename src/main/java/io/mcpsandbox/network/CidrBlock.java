package io.mcpsandbox.network;

import java.net.InetAddress;

/**
 * One entry of an allowed-CIDRs list ({@code 203.0.113.0/24}, {@code 2001:db8::/32}; an address alone is a /32
 * or /128). Only says whether an address is inside: {@link AddressPolicy} still refuses what it always refuses.
 */
public record CidrBlock(InetAddress network, int prefixLength) {

    public CidrBlock {
        int bits = network.getAddress().length * 8;
        if (prefixLength < 0 || prefixLength > bits) {
            throw new IllegalArgumentException("prefix length " + prefixLength + " is not within 0.." + bits);
        }
    }

    /** Parses {@code address[/prefix]} strictly (no names, no short IPv4 forms). */
    public static CidrBlock parse(String entry) {
        String text = entry.trim();
        int slash = text.indexOf('/');
        String address = slash < 0 ? text : text.substring(0, slash);
        InetAddress network = NameResolver.parseLiteral(address);
        if (network == null) {
            throw new IllegalArgumentException("a CIDR is an address with a prefix length: '" + shown(text) + "'");
        }
        int bits = network.getAddress().length * 8;
        int prefix = bits;
        if (slash >= 0) {
            String digits = text.substring(slash + 1);
            if (!digits.matches("[0-9]{1,3}")) {
                throw new IllegalArgumentException("bad prefix length in '" + shown(text) + "'");
            }
            prefix = Integer.parseInt(digits);
        }
        return new CidrBlock(network, prefix);
    }

    /** True when {@code address} is of the same family and inside the block. */
    public boolean contains(InetAddress address) {
        byte[] a = address.getAddress();
        byte[] n = network.getAddress();
        if (a.length != n.length) {
            return false;
        }
        int full = prefixLength / 8;
        for (int i = 0; i < full; i++) {
            if (a[i] != n[i]) {
                return false;
            }
        }
        int rest = prefixLength % 8;
        if (rest == 0) {
            return true;
        }
        int mask = (0xff << (8 - rest)) & 0xff;
        return (a[full] & mask) == (n[full] & mask);
    }

    @Override
    public String toString() {
        return network.getHostAddress() + "/" + prefixLength;
    }

    private static String shown(String text) {
        return text.length() > 100 ? text.substring(0, 100) + "..." : text;
    }
}
