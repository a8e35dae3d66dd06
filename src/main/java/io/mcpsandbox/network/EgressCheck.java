package io.mcpsandbox.network;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Optional;

/**
 * Decides one target before any socket opens. The port must be allowed; a name must match an allowed domain
 * and every address it resolves to must pass {@link AddressPolicy} (one refused address refuses the name: DNS
 * rebinding); a literal address must be inside an allowed CIDR and pass {@link AddressPolicy}. What
 * AddressPolicy refuses (loopback, this host's addresses, private, link-local, metadata, multicast...) stays
 * refused whatever the lists say.
 */
public final class EgressCheck {
    private static final int SHOWN_HOST_CHARS = 100;

    private final EgressPolicy policy;
    private final EgressResolver resolver;
    private final AddressPolicy addresses;

    public EgressCheck(EgressPolicy policy, EgressResolver resolver, AddressPolicy addresses) {
        this.policy = policy;
        this.resolver = resolver;
        this.addresses = addresses;
    }

    /** The addresses {@code host:port} may be reached at, or the refusal. Resolves names; opens no socket. */
    public EgressDecision decide(String host, int port) {
        InetAddress literal;
        String name;
        try {
            literal = NameResolver.parseLiteral(host);
            name = literal != null ? literal.getHostAddress() : NameResolver.normalizeName(host);
        } catch (IllegalArgumentException e) {
            String shown = host == null ? "" : host.length() > SHOWN_HOST_CHARS
                    ? host.substring(0, SHOWN_HOST_CHARS) + "..." : host;
            return EgressDecision.refused(shown.replaceAll("[^\\x21-\\x7e]", "?"), port, "malformed host");
        }
        if (port < 1 || port > 65535 || !policy.ports().contains(port)) {
            return EgressDecision.refused(name, port, "port " + port + " is not in network.allowed-ports");
        }
        if (literal != null) {
            return decideAddress(name, port, literal);
        }
        if (policy.domainMatching(name).isEmpty()) {
            return EgressDecision.refused(name, port, "not in network.allowed-domains");
        }
        List<InetAddress> resolved;
        try {
            resolved = resolver.resolve(name);
        } catch (UnknownHostException e) {
            return EgressDecision.refused(name, port, "does not resolve");
        }
        if (resolved.isEmpty()) {
            return EgressDecision.refused(name, port, "does not resolve");
        }
        for (InetAddress address : resolved) {
            Optional<String> refusal = addresses.refusal(address);
            if (refusal.isPresent()) {
                return EgressDecision.refused(name, port, "resolves to a refused address ("
                        + address.getHostAddress() + ": " + refusal.get() + ")");
            }
        }
        return EgressDecision.allowed(name, port, resolved);
    }

    private EgressDecision decideAddress(String name, int port, InetAddress literal) {
        Optional<String> refusal = addresses.refusal(literal);
        if (refusal.isPresent()) {
            return EgressDecision.refused(name, port, "refused address (" + refusal.get() + ")");
        }
        if (policy.cidrs().stream().noneMatch(c -> c.contains(literal))) {
            return EgressDecision.refused(name, port, "address not in network.allowed-cidrs");
        }
        return EgressDecision.allowed(name, port, List.of(literal));
    }
}
