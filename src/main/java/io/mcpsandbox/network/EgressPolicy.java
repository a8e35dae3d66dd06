package io.mcpsandbox.network;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * One sandbox's egress policy: where it may connect and how much. Built by {@link NetworkSettings#policyFor}.
 *
 * @param domains        names allowed (exact or {@code *.} wildcards)
 * @param cidrs          blocks a literal address target must be inside
 * @param ports          the TCP ports allowed, for names and addresses alike
 * @param secretHeaders  per exact host name (normalized), headers added to its plain-HTTP requests
 * @param maxConnections concurrent upstream connections
 * @param maxBytes       total bytes both ways over the sandbox's life; then connections are cut
 * @param bandwidth      bytes per second both ways together; 0 = unlimited
 */
public record EgressPolicy(List<DomainPattern> domains, List<CidrBlock> cidrs, Set<Integer> ports,
                           Map<String, List<SecretHeader>> secretHeaders, int maxConnections, long maxBytes,
                           long bandwidth) {

    public EgressPolicy {
        domains = List.copyOf(domains);
        cidrs = List.copyOf(cidrs);
        ports = Set.copyOf(ports);
        secretHeaders = Map.copyOf(secretHeaders);
        if (maxConnections < 1) {
            throw new IllegalArgumentException("maxConnections must be at least 1; got " + maxConnections);
        }
        if (maxBytes < 1) {
            throw new IllegalArgumentException("maxBytes must be at least 1; got " + maxBytes);
        }
        if (bandwidth < 0) {
            throw new IllegalArgumentException("bandwidth must not be negative; got " + bandwidth);
        }
    }

    /** The entry of {@link #domains} that matches {@code name}, if one does. */
    public Optional<DomainPattern> domainMatching(String name) {
        return domains.stream().filter(d -> d.matches(name)).findFirst();
    }

    /** The secret headers for {@code name} (exactly that host, normalized), or none. */
    public List<SecretHeader> secretHeadersFor(String name) {
        return secretHeaders.getOrDefault(name, List.of());
    }
}
