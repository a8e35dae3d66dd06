package io.mcpsandbox.network;

import io.mcpsandbox.config.Settings;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Turns a host from outside (a URL's host) into addresses. An IP literal is parsed strictly and without DNS;
 * the forms {@code java.net} and browsers also take as IPv4 ({@code 0x7f.1}, {@code 2130706433}, octal
 * {@code 0177.0.0.1}, {@code 127.1}) are refused as malformed, since two parsers reading one string as two
 * addresses is how allowlists get bypassed. A name with static answers in {@value #SETTING} answers from them
 * only (tests and air-gapped setups); any other name goes to the system resolver.
 */
public final class NameResolver {
    /** Static answers: {@code name=address,name=address}; a name repeated for several addresses. */
    public static final String SETTING = "network.resolve";

    /** A decimal octet without leading zeros (a leading zero means octal to some parsers). */
    private static final String OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
    private static final Pattern IPV4 = Pattern.compile(OCTET + "(\\." + OCTET + "){3}");
    private static final Pattern IPV6_CHARS = Pattern.compile("[0-9a-fA-F:.]+");
    private static final Pattern LABEL = Pattern.compile("[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?");
    /** A last label that WHATWG URL parsers read as a number: then the whole host is an IPv4 attempt. */
    private static final Pattern NUMERIC_LABEL = Pattern.compile("[0-9]+|0x[0-9a-f]*");

    private final Map<String, List<InetAddress>> staticAnswers;

    /** Reads {@value #SETTING}; a malformed entry is an {@link IllegalArgumentException} naming it. */
    public NameResolver(Settings settings) {
        this.staticAnswers = parseStaticAnswers(settings.string(SETTING, ""));
    }

    /**
     * The addresses of {@code host} (a name, an IPv4 literal, or an IPv6 literal with or without brackets).
     *
     * @throws IllegalArgumentException when {@code host} is neither a well-formed name nor a strict literal
     * @throws UnknownHostException     when the system resolver has no address for the name
     */
    public List<InetAddress> resolve(String host) throws UnknownHostException {
        InetAddress literal = parseLiteral(host);
        if (literal != null) {
            return List.of(literal);
        }
        String name = normalizeName(host);
        List<InetAddress> answers = staticAnswers.get(name);
        if (answers != null) {
            return answers;
        }
        return List.of(InetAddress.getAllByName(name));
    }

    /** The {@value #SETTING} answers for {@code name} (normalized first), or empty when it has none. */
    public Optional<List<InetAddress>> staticAnswers(String name) {
        return Optional.ofNullable(staticAnswers.get(normalizeName(name)));
    }

    /** True when {@code host} is an IP literal (strictly formed); false for a name. */
    public static boolean isLiteral(String host) {
        return parseLiteral(host) != null;
    }

    /**
     * The address an IP literal names, parsed without DNS; null when {@code host} is a name.
     *
     * @throws IllegalArgumentException when {@code host} looks like an address but is not a strict literal
     */
    public static InetAddress parseLiteral(String host) {
        if (host == null || host.isEmpty()) {
            throw malformed(host == null ? "" : host);
        }
        String text = host;
        boolean bracketed = text.startsWith("[") && text.endsWith("]") && text.length() > 2;
        if (bracketed) {
            text = text.substring(1, text.length() - 1);
        }
        if (text.indexOf(':') >= 0) {
            return parseIpv6(host, text);
        }
        if (bracketed || host.indexOf('[') >= 0 || host.indexOf(']') >= 0) {
            throw malformed(host);
        }
        if (IPV4.matcher(text).matches()) {
            return ipv4(text);
        }
        String lower = text.toLowerCase(Locale.ROOT);
        String trimmed = lower.endsWith(".") ? lower.substring(0, lower.length() - 1) : lower;
        String lastLabel = trimmed.substring(trimmed.lastIndexOf('.') + 1);
        if (NUMERIC_LABEL.matcher(lastLabel).matches()) {
            throw malformed(host);
        }
        return null;
    }

    private static InetAddress parseIpv6(String host, String text) {
        // Only hex digits, colons and (for a trailing IPv4 part) dots: no zone id, no spaces. With a colon in it,
        // java.net parses the string as an IPv6 literal or fails; it never asks DNS.
        if (!IPV6_CHARS.matcher(text).matches() || text.length() > 45) {
            throw malformed(host);
        }
        int lastColon = text.lastIndexOf(':');
        String tail = text.substring(lastColon + 1);
        if (tail.indexOf('.') >= 0 && !IPV4.matcher(tail).matches()) {
            throw malformed(host);
        }
        try {
            return InetAddress.getByName(text);
        } catch (UnknownHostException e) {
            throw malformed(host);
        }
    }

    private static InetAddress ipv4(String text) {
        String[] parts = text.split("\\.");
        byte[] bytes = new byte[4];
        for (int i = 0; i < 4; i++) {
            bytes[i] = (byte) Integer.parseInt(parts[i]);
        }
        try {
            return InetAddress.getByAddress(bytes);
        } catch (UnknownHostException e) {
            throw new IllegalStateException("four bytes are always an IPv4 address", e);
        }
    }

    /** A DNS name in lower case without its trailing dot, or an {@link IllegalArgumentException}. */
    public static String normalizeName(String host) {
        String name = host.toLowerCase(Locale.ROOT);
        if (name.endsWith(".")) {
            name = name.substring(0, name.length() - 1);
        }
        if (name.isEmpty() || name.length() > 253) {
            throw malformed(host);
        }
        for (String label : name.split("\\.", -1)) {
            if (!LABEL.matcher(label).matches()) {
                throw malformed(host);
            }
        }
        return name;
    }

    private static IllegalArgumentException malformed(String host) {
        String shown = host.length() > 100 ? host.substring(0, 100) + "..." : host;
        return new IllegalArgumentException("malformed host name or address: '" + shown + "'");
    }

    private static Map<String, List<InetAddress>> parseStaticAnswers(String value) {
        Map<String, List<InetAddress>> answers = new LinkedHashMap<>();
        for (String rawEntry : value.split(",")) {
            String entry = rawEntry.trim();
            if (entry.isEmpty()) {
                continue;
            }
            int equals = entry.indexOf('=');
            if (equals <= 0 || equals == entry.length() - 1) {
                throw badEntry(entry, "expected name=address");
            }
            String rawName = entry.substring(0, equals).trim();
            String name;
            InetAddress address;
            boolean nameIsAddress;
            try {
                nameIsAddress = isLiteral(rawName);
                name = nameIsAddress ? rawName : normalizeName(rawName);
                address = parseLiteral(entry.substring(equals + 1).trim());
            } catch (IllegalArgumentException e) {
                throw badEntry(entry, e.getMessage());
            }
            if (nameIsAddress) {
                throw badEntry(entry, "the name is an address");
            }
            if (address == null) {
                throw badEntry(entry, "the answer must be an IP address");
            }
            answers.computeIfAbsent(name, n -> new ArrayList<>()).add(address);
        }
        Map<String, List<InetAddress>> frozen = new LinkedHashMap<>();
        answers.forEach((name, addresses) -> frozen.put(name, List.copyOf(addresses)));
        return Map.copyOf(frozen);
    }

    private static IllegalArgumentException badEntry(String entry, String why) {
        String shown = entry.length() > 100 ? entry.substring(0, 100) + "..." : entry;
        return new IllegalArgumentException(SETTING + ": bad entry '" + shown + "': " + why);
    }
}
