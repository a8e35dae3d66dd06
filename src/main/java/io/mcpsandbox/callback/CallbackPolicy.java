package io.mcpsandbox.callback;

import io.mcpsandbox.network.AddressPolicy;
import io.mcpsandbox.network.NameResolver;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Whether a {@code callbackUrl} may be called: http or https, no user info, no fragment, at most
 * {@value #MAX_URL_LENGTH} characters, a host on {@code callbacks.allowed-hosts}, and every address the host
 * resolves to allowed by {@link AddressPolicy} (one refused address refuses the URL: a name that answers both a
 * public and a private address is a DNS rebinding attempt). Checked at submission and again at each delivery.
 */
public final class CallbackPolicy {
    public static final int MAX_URL_LENGTH = 2048;
    private static final int SHOWN_HOST_CHARS = 100;

    private final List<String> allowedHosts;
    private final NameResolver resolver;
    private final AddressPolicy addresses;

    public CallbackPolicy(CallbackSettings settings, NameResolver resolver, AddressPolicy addresses) {
        this.allowedHosts = settings.allowedHosts();
        this.resolver = resolver;
        this.addresses = addresses;
    }

    /** The URL to call, normalized (scheme and host in lower case), or why it is refused. */
    public URI check(String url) throws CallbackRefused {
        if (url == null || url.isBlank()) {
            throw new CallbackRefused("callbackUrl is empty");
        }
        if (url.length() > MAX_URL_LENGTH) {
            throw new CallbackRefused("callbackUrl is longer than " + MAX_URL_LENGTH + " characters");
        }
        URI uri;
        try {
            uri = new URI(url).parseServerAuthority();
        } catch (URISyntaxException e) {
            throw new CallbackRefused("callbackUrl is not a valid URL");
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw new CallbackRefused("callbackUrl must be an http or https URL");
        }
        if (uri.getRawUserInfo() != null) {
            throw new CallbackRefused("callbackUrl must not carry user info (user:password@)");
        }
        if (uri.getRawFragment() != null) {
            throw new CallbackRefused("callbackUrl must not have a fragment (#...)");
        }
        if (uri.getHost() == null) {
            throw new CallbackRefused("callbackUrl has no host");
        }
        if (uri.getPort() == 0 || uri.getPort() > 65535) {
            throw new CallbackRefused("callbackUrl has an invalid port");
        }
        String host = hostOf(uri);
        checkAllowed(host);
        return rebuild(uri, scheme, host);
    }

    /** Every address of {@code host}, or why one of them (or the name) is refused. */
    List<InetAddress> allowedAddresses(String host) throws CallbackRefused {
        List<InetAddress> resolved;
        try {
            resolved = resolver.resolve(host);
        } catch (IllegalArgumentException e) {
            throw new CallbackRefused("callbackUrl host is malformed: " + shown(host));
        } catch (UnknownHostException e) {
            throw new CallbackRefused("callbackUrl host does not resolve: " + shown(host));
        }
        if (resolved.isEmpty()) {
            throw new CallbackRefused("callbackUrl host does not resolve: " + shown(host));
        }
        for (InetAddress address : resolved) {
            Optional<String> refusal = addresses.refusal(address);
            if (refusal.isPresent()) {
                throw new CallbackRefused("callbackUrl host " + shown(host) + " is or resolves to a refused address ("
                        + refusal.get() + ")");
            }
        }
        return resolved;
    }

    private void checkAllowed(String host) throws CallbackRefused {
        if (allowedHosts.isEmpty()) {
            throw new CallbackRefused("callbacks are off on this server: no host is allowed (the operator sets "
                    + CallbackSettings.ALLOWED_HOSTS + ")");
        }
        String key;
        boolean literal;
        try {
            InetAddress address = NameResolver.parseLiteral(host);
            literal = address != null;
            key = literal ? address.getHostAddress() : NameResolver.normalizeName(host);
        } catch (IllegalArgumentException e) {
            throw new CallbackRefused("callbackUrl host is malformed: " + shown(host));
        }
        if (!isAllowed(key, literal)) {
            throw new CallbackRefused("callbackUrl host " + shown(host) + " is not on "
                    + CallbackSettings.ALLOWED_HOSTS);
        }
        allowedAddresses(host);
    }

    private boolean isAllowed(String key, boolean literal) {
        for (String entry : allowedHosts) {
            if (entry.equals(key)) {
                return true;
            }
            // "*.example.org" covers a.example.org and a.b.example.org, not example.org itself; never an address.
            if (!literal && entry.startsWith("*.") && key.endsWith(entry.substring(1))) {
                return true;
            }
        }
        return false;
    }

    /** The host without IPv6 brackets, in lower case. */
    static String hostOf(URI uri) {
        String host = uri.getHost();
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        return host.toLowerCase(Locale.ROOT);
    }

    private static URI rebuild(URI uri, String scheme, String host) throws CallbackRefused {
        String authorityHost = host.indexOf(':') >= 0 ? "[" + host + "]" : host;
        String port = uri.getPort() == -1 ? "" : ":" + uri.getPort();
        String path = uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath();
        String query = uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery();
        try {
            return new URI(scheme + "://" + authorityHost + port + path + query);
        } catch (URISyntaxException e) {
            throw new CallbackRefused("callbackUrl is not a valid URL");
        }
    }

    private static String shown(String host) {
        return host.length() > SHOWN_HOST_CHARS ? "'" + host.substring(0, SHOWN_HOST_CHARS) + "...'" : "'" + host + "'";
    }
}
