package io.mcpsandbox.network;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.policy.PolicyViolation;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * The server's {@code network.*} settings, and the policy one user's request gets from them.
 *
 * <p>Keys: {@value #ENABLED} (false), {@value #ALLOWED_DOMAINS} (none), {@value #ALLOWED_CIDRS} (none),
 * {@value #ALLOWED_PORTS} (80,443), {@value #DNS_SERVERS} (none: the system resolver),
 * {@value NameResolver#SETTING} (read by {@link NameResolver}), {@value #MAX_CONNECTIONS} (32),
 * {@value #MAX_BYTES} (1g), {@value #BANDWIDTH} (10m bytes/s; 0 = unlimited), {@code network.secret-header.<host>}
 * = {@code Header-Name: value} (any number; read from the properties file only, since an environment variable's
 * name cannot carry the host's dots), and per user {@code network.user.<userId>.allowed-domains},
 * {@code .allowed-cidrs}, {@code .allowed-ports}, each replacing the server's list for that user.
 */
public final class NetworkSettings {
    public static final String ENABLED = "network.enabled";
    public static final String ALLOWED_DOMAINS = "network.allowed-domains";
    public static final String ALLOWED_CIDRS = "network.allowed-cidrs";
    public static final String ALLOWED_PORTS = "network.allowed-ports";
    public static final String DNS_SERVERS = "network.dns-servers";
    public static final String MAX_CONNECTIONS = "network.max-connections";
    public static final String MAX_BYTES = "network.max-bytes";
    public static final String BANDWIDTH = "network.bandwidth";
    public static final String SECRET_HEADER_PREFIX = "network.secret-header.";
    public static final String USER_PREFIX = "network.user.";
    /** A request's allow list: more entries than this is refused (each is matched on every connection). */
    static final int MAX_ALLOW_ENTRIES = 256;

    private final Settings settings;
    private final boolean enabled;
    private final Lists serverLists;
    private final List<InetAddress> dnsServers;
    private final Map<String, List<SecretHeader>> secretHeaders;
    private final int maxConnections;
    private final long maxBytes;
    private final long bandwidth;

    /** Reads and checks every {@code network.*} key; a malformed one is an {@link IllegalArgumentException}. */
    public NetworkSettings(Settings settings) {
        this.settings = settings;
        this.enabled = settings.bool(ENABLED, "false");
        this.serverLists = new Lists(
                parseList(ALLOWED_DOMAINS, settings.string(ALLOWED_DOMAINS, ""), DomainPattern::parse),
                parseList(ALLOWED_CIDRS, settings.string(ALLOWED_CIDRS, ""), CidrBlock::parse),
                Set.copyOf(parseList(ALLOWED_PORTS, settings.string(ALLOWED_PORTS, "80,443"),
                        NetworkSettings::parsePort)));
        this.dnsServers = parseList(DNS_SERVERS, settings.string(DNS_SERVERS, ""), NetworkSettings::parseAddress);
        this.maxConnections = settings.integer(MAX_CONNECTIONS, "32");
        this.maxBytes = settings.bytes(MAX_BYTES, "1g");
        this.bandwidth = settings.bytes(BANDWIDTH, "10m");
        if (maxConnections < 1 || maxConnections > 10_000) {
            throw new IllegalArgumentException(MAX_CONNECTIONS + ": expected 1 to 10000; got " + maxConnections);
        }
        if (maxBytes < 1) {
            throw new IllegalArgumentException(MAX_BYTES + ": expected at least 1 byte");
        }
        this.secretHeaders = parseSecretHeaders(settings);
        // Every per-user key in the file is checked now, so a typo fails at start rather than at a request.
        for (String key : settings.file().stringPropertyNames()) {
            if (key.startsWith(USER_PREFIX)) {
                String user = userOf(key);
                if (user == null) {
                    throw new IllegalArgumentException(key + ": unknown key (expected " + USER_PREFIX
                            + "<userId>.allowed-domains, .allowed-cidrs or .allowed-ports)");
                }
                listsFor(user);
            }
        }
    }

    /** {@value #ENABLED}: when false every request for network is refused. */
    public boolean enabled() {
        return enabled;
    }

    /** {@value #DNS_SERVERS}: the upstream resolvers; empty = the system resolver. */
    public List<InetAddress> dnsServers() {
        return dnsServers;
    }

    /**
     * The policy for {@code userId}'s request, or empty when the request does not ask for network.
     *
     * @throws PolicyViolation when network is off on this server, or the request names something the server's
     *                         list for that user does not cover (field {@code network})
     */
    public Optional<EgressPolicy> policyFor(String userId, NetworkRequest request) throws PolicyViolation {
        if (request == null || !request.enabled()) {
            return Optional.empty();
        }
        if (!enabled) {
            throw new PolicyViolation("network", "network is off on this server (" + ENABLED + " is false)");
        }
        Lists lists = listsFor(userId);
        List<DomainPattern> domains = lists.domains();
        List<CidrBlock> cidrs = lists.cidrs();
        if (!request.allow().isEmpty()) {
            domains = narrow(lists.domains(), request.allow());
            cidrs = List.of(); // the request named domains only: literal addresses are not among them
        }
        return Optional.of(new EgressPolicy(domains, cidrs, lists.ports(), secretHeaders, maxConnections, maxBytes,
                bandwidth));
    }

    private static List<DomainPattern> narrow(List<DomainPattern> server, List<String> allow) throws PolicyViolation {
        if (allow.size() > MAX_ALLOW_ENTRIES) {
            throw new PolicyViolation("network", "at most " + MAX_ALLOW_ENTRIES + " entries in allow");
        }
        Set<DomainPattern> kept = new LinkedHashSet<>();
        for (String entry : allow) {
            DomainPattern pattern;
            try {
                pattern = DomainPattern.parse(entry == null ? "" : entry);
            } catch (IllegalArgumentException e) {
                throw new PolicyViolation("network", "bad allow entry: " + e.getMessage());
            }
            if (server.stream().noneMatch(s -> s.covers(pattern))) {
                throw new PolicyViolation("network", pattern + " is not in the server's " + ALLOWED_DOMAINS
                        + " (a request can only narrow that list)");
            }
            kept.add(pattern);
        }
        return List.copyOf(kept);
    }

    private Lists listsFor(String userId) {
        if (userId == null || userId.isEmpty()) {
            return serverLists;
        }
        String prefix = USER_PREFIX + userId + ".";
        String domains = settings.string(prefix + "allowed-domains", null);
        String cidrs = settings.string(prefix + "allowed-cidrs", null);
        String ports = settings.string(prefix + "allowed-ports", null);
        return new Lists(
                domains == null ? serverLists.domains()
                        : parseList(prefix + "allowed-domains", domains, DomainPattern::parse),
                cidrs == null ? serverLists.cidrs() : parseList(prefix + "allowed-cidrs", cidrs, CidrBlock::parse),
                ports == null ? serverLists.ports()
                        : Set.copyOf(parseList(prefix + "allowed-ports", ports, NetworkSettings::parsePort)));
    }

    private static String userOf(String key) {
        for (String suffix : List.of(".allowed-domains", ".allowed-cidrs", ".allowed-ports")) {
            if (key.endsWith(suffix) && key.length() > USER_PREFIX.length() + suffix.length()) {
                return key.substring(USER_PREFIX.length(), key.length() - suffix.length());
            }
        }
        return null;
    }

    private static Map<String, List<SecretHeader>> parseSecretHeaders(Settings settings) {
        Map<String, List<SecretHeader>> headers = new LinkedHashMap<>();
        for (String key : settings.file().stringPropertyNames()) {
            if (!key.startsWith(SECRET_HEADER_PREFIX)) {
                continue;
            }
            String host = key.substring(SECRET_HEADER_PREFIX.length());
            try {
                if (NameResolver.isLiteral(host)) {
                    throw new IllegalArgumentException("the host must be a name");
                }
                String name = NameResolver.normalizeName(host);
                headers.computeIfAbsent(name, h -> new ArrayList<>())
                        .add(SecretHeader.parse(settings.file().getProperty(key)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(key + ": " + e.getMessage());
            }
        }
        Map<String, List<SecretHeader>> frozen = new LinkedHashMap<>();
        headers.forEach((host, list) -> frozen.put(host, List.copyOf(list)));
        return Map.copyOf(frozen);
    }

    private static <T> List<T> parseList(String key, String value, Function<String, T> parser) {
        List<T> parsed = new ArrayList<>();
        for (String raw : value.split(",")) {
            String entry = raw.trim();
            if (entry.isEmpty()) {
                continue;
            }
            try {
                parsed.add(parser.apply(entry));
            } catch (IllegalArgumentException e) {
                String shown = entry.length() > 100 ? entry.substring(0, 100) + "..." : entry;
                throw new IllegalArgumentException(key + ": bad entry '" + shown + "': " + e.getMessage());
            }
        }
        return List.copyOf(parsed);
    }

    private static Integer parsePort(String text) {
        if (!text.matches("[0-9]{1,5}") || Integer.parseInt(text) < 1 || Integer.parseInt(text) > 65535) {
            throw new IllegalArgumentException("expected a port from 1 to 65535");
        }
        return Integer.parseInt(text);
    }

    private static InetAddress parseAddress(String text) {
        InetAddress address = NameResolver.parseLiteral(text);
        if (address == null) {
            throw new IllegalArgumentException("expected an IP address");
        }
        return address;
    }

    private record Lists(List<DomainPattern> domains, List<CidrBlock> cidrs, Set<Integer> ports) {
    }
}
