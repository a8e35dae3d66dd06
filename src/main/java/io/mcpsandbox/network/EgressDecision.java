package io.mcpsandbox.network;

import java.net.InetAddress;
import java.util.List;

/**
 * The answer to "may the sandbox connect to host:port": the addresses checked (connect to these, never resolve
 * again) or why not.
 *
 * @param target    {@code host:port} as the sandbox named it (host normalized), for events
 * @param host      the host, normalized (a name in lower case, or an address in canonical form)
 * @param port      the port
 * @param addresses every address checked; empty when refused
 * @param refusal   why it is refused; null when allowed
 */
public record EgressDecision(String target, String host, int port, List<InetAddress> addresses, String refusal) {

    public EgressDecision {
        addresses = List.copyOf(addresses);
    }

    static EgressDecision allowed(String host, int port, List<InetAddress> addresses) {
        return new EgressDecision(target(host, port), host, port, addresses, null);
    }

    static EgressDecision refused(String host, int port, String refusal) {
        return new EgressDecision(target(host, port), host, port, List.of(), refusal);
    }

    public boolean isAllowed() {
        return refusal == null;
    }

    static String target(String host, int port) {
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }
}
