package io.mcpsandbox.network;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.policy.PolicyViolation;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;

/**
 * Whether a request may have network, and with which policy; and the egress of a sandbox that has it. The one
 * place executions and sessions ask (docs/network.md).
 */
public final class NetworkAccess {
    private final NetworkSettings settings;
    private final EgressResolver resolver;
    private final AddressPolicy addresses;

    /** Reads the network.* settings; the address policy learns this host's own addresses now. */
    public NetworkAccess(Settings settings) {
        this.settings = new NetworkSettings(settings);
        this.resolver = new EgressResolver(new NameResolver(settings), this.settings.dnsServers());
        this.addresses = new AddressPolicy();
    }

    /** No network for anyone: what a server without {@code network.enabled} has. */
    public static NetworkAccess off() {
        return new NetworkAccess(new Settings(new Properties(), Map.of()));
    }

    /** True when this server lets requests ask for network ({@code network.enabled}). */
    public boolean available() {
        return settings.enabled();
    }

    /**
     * The egress policy of a request: empty when it did not ask for network.
     *
     * @param allow the names it needs; empty for the server's whole list (for that user)
     * @throws PolicyViolation network is off on this server, or {@code allow} names what the server's list does not
     */
    public Optional<EgressPolicy> policyFor(String userId, boolean asked, List<String> allow)
            throws PolicyViolation {
        return settings.policyFor(userId, new NetworkRequest(asked, allow));
    }

    /** The egress of one sandbox, to be attached to its agent's channel; closed with the sandbox. */
    public SandboxEgress open(String sandboxName, EgressPolicy policy) {
        return new SandboxEgress(sandboxName, policy, resolver, addresses);
    }
}
