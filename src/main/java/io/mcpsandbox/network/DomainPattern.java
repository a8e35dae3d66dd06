package io.mcpsandbox.network;

/**
 * One entry of an allowed-domains list: an exact name ({@code pypi.org}) or a wildcard ({@code *.example.org})
 * that covers every subdomain at any depth but not the apex. Names are compared in lower case without their
 * trailing dot. Never an address: literal addresses are allowed by CIDR, not by name.
 *
 * @param name     the normalized name (for a wildcard, the part after {@code *.})
 * @param wildcard true for {@code *.name}
 */
public record DomainPattern(String name, boolean wildcard) {

    /** Parses one entry; an {@link IllegalArgumentException} says what is wrong with it. */
    public static DomainPattern parse(String entry) {
        String text = entry.trim();
        boolean wildcard = text.startsWith("*.");
        String rest = wildcard ? text.substring(2) : text;
        if (rest.contains("*")) {
            throw new IllegalArgumentException("only a leading '*.' wildcard is supported: '" + shown(text) + "'");
        }
        if (rest.isEmpty() || NameResolver.isLiteral(rest)) {
            throw new IllegalArgumentException("a domain is a name, not an address (addresses go in CIDRs): '"
                    + shown(text) + "'");
        }
        return new DomainPattern(NameResolver.normalizeName(rest), wildcard);
    }

    /** True when {@code host} (a name, any case, trailing dot or not) matches this entry. */
    public boolean matches(String host) {
        String normalized;
        try {
            normalized = NameResolver.normalizeName(host);
        } catch (IllegalArgumentException e) {
            return false;
        }
        return wildcard ? normalized.endsWith("." + name) : normalized.equals(name);
    }

    /** True when every name {@code other} matches is also matched by this entry (for narrowing). */
    public boolean covers(DomainPattern other) {
        if (!wildcard) {
            return !other.wildcard && other.name.equals(name);
        }
        return other.name.endsWith("." + name) || (other.wildcard && other.name.equals(name));
    }

    @Override
    public String toString() {
        return wildcard ? "*." + name : name;
    }

    private static String shown(String text) {
        return text.length() > 100 ? text.substring(0, 100) + "..." : text;
    }
}
