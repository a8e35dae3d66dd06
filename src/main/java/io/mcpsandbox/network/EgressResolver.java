package io.mcpsandbox.network;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Hashtable;
import java.util.List;
import java.util.stream.Collectors;
import javax.naming.NamingEnumeration;
import javax.naming.NamingException;
import javax.naming.directory.Attribute;
import javax.naming.directory.Attributes;
import javax.naming.directory.DirContext;
import javax.naming.directory.InitialDirContext;

/**
 * The policy point's only DNS: {@value NameResolver#SETTING} answers first; then the resolvers of
 * {@code network.dns-servers} through the JDK's JNDI DNS provider (A and AAAA, 2 s per try) when set, else the
 * system resolver. A name only; literals are the caller's business ({@link EgressCheck} handles them first).
 */
public class EgressResolver {
    static final int TIMEOUT_MILLIS = 2000;
    /** At most this many addresses per name are kept (each is checked, and tried in order at connect). */
    static final int MAX_ADDRESSES = 16;

    private final NameResolver staticAnswers;
    private final List<InetAddress> dnsServers;

    public EgressResolver(NameResolver staticAnswers, List<InetAddress> dnsServers) {
        this.staticAnswers = staticAnswers;
        this.dnsServers = List.copyOf(dnsServers);
    }

    /**
     * The addresses of {@code name} (already normalized).
     *
     * @throws UnknownHostException when no resolver has an address for it
     */
    public List<InetAddress> resolve(String name) throws UnknownHostException {
        var fixed = staticAnswers.staticAnswers(name);
        if (fixed.isPresent()) {
            return fixed.get();
        }
        List<InetAddress> found = dnsServers.isEmpty() ? List.of(InetAddress.getAllByName(name)) : askServers(name);
        if (found.isEmpty()) {
            throw new UnknownHostException(name);
        }
        return found.size() > MAX_ADDRESSES ? found.subList(0, MAX_ADDRESSES) : found;
    }

    private List<InetAddress> askServers(String name) throws UnknownHostException {
        Hashtable<String, String> env = new Hashtable<>();
        env.put("java.naming.factory.initial", "com.sun.jndi.dns.DnsContextFactory");
        env.put("java.naming.provider.url", dnsServers.stream()
                .map(a -> "dns://" + (a.getAddress().length == 16 ? "[" + a.getHostAddress() + "]"
                        : a.getHostAddress()))
                .collect(Collectors.joining(" ")));
        env.put("com.sun.jndi.dns.timeout.initial", Integer.toString(TIMEOUT_MILLIS));
        env.put("com.sun.jndi.dns.timeout.retries", "1");
        DirContext context = null;
        try {
            context = new InitialDirContext(env);
            // The trailing dot makes the name absolute: no search domains are appended.
            Attributes attributes = context.getAttributes(name + ".", new String[] {"A", "AAAA"});
            List<InetAddress> addresses = new ArrayList<>();
            for (String type : List.of("A", "AAAA")) {
                Attribute attribute = attributes.get(type);
                if (attribute == null) {
                    continue;
                }
                NamingEnumeration<?> values = attribute.getAll();
                while (values.hasMore()) {
                    InetAddress address = NameResolver.parseLiteral(values.next().toString());
                    if (address != null) {
                        addresses.add(InetAddress.getByAddress(name, address.getAddress()));
                    }
                }
            }
            return addresses;
        } catch (NamingException | IllegalArgumentException e) {
            UnknownHostException unknown = new UnknownHostException(name);
            unknown.initCause(e);
            throw unknown;
        } finally {
            if (context != null) {
                try {
                    context.close();
                } catch (NamingException e) {
                    // nothing held open worth reporting
                }
            }
        }
    }
}
