package io.mcpsandbox.network;

import io.mcpsandbox.model.NetworkIO;
import io.mcpsandbox.model.SecurityEvent;
import io.mcpsandbox.model.SecurityEvent.Severity;
import io.mcpsandbox.runtime.agent.AgentChannel;
import io.mcpsandbox.runtime.agent.AgentConnection;
import java.io.Closeable;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One sandbox's way out: its agent listens on {@value #PROXY_PORT} of the sandbox's own loopback (the sandbox has
 * no other interface) and relays each connection here, where an {@link EgressProxy} with the sandbox's policy
 * serves it. Keeps what the proxy refused as {@code network.denied} events (at most {@value #MAX_EVENTS}, then
 * a count: a program that tries a million targets must not grow the record) and lets a session tell each of its
 * executions what happened during it.
 */
public final class SandboxEgress implements AutoCloseable {
    public static final int PROXY_PORT = 3128;
    public static final String PROXY_URL = "http://127.0.0.1:" + PROXY_PORT;
    public static final String DENIED = "network.denied";
    static final int MAX_EVENTS = 100;
    /** Connections served at once, those the agent has already closed included. */
    static final int MAX_IN_PROGRESS = 64;
    private static final Logger log = LoggerFactory.getLogger(SandboxEgress.class);

    /** What a program finds in its environment: every spelling tools read, loopback left direct. */
    public static final Map<String, String> PROXY_ENV = Map.of(
            "HTTP_PROXY", PROXY_URL, "HTTPS_PROXY", PROXY_URL, "http_proxy", PROXY_URL, "https_proxy", PROXY_URL,
            "NO_PROXY", "localhost,127.0.0.1,::1", "no_proxy", "localhost,127.0.0.1,::1");

    /** {@code env} with the proxy's variables on top: the way out of a sandbox that has network. */
    public static Map<String, String> withProxyEnv(Map<String, String> env) {
        Map<String, String> all = new java.util.LinkedHashMap<>(env);
        all.putAll(PROXY_ENV);
        return all;
    }

    private final String name;
    private final EgressProxy proxy;
    private final List<SecurityEvent> events = new ArrayList<>();
    private final java.util.concurrent.Semaphore inProgress = new java.util.concurrent.Semaphore(MAX_IN_PROGRESS);
    private long deniedTotal;

    /** A point in time of this egress: the usage and refusals so far. */
    public record Mark(NetworkIO usage, long denied) {
        /** Before anything went out: what a one-shot sandbox's whole run is measured from. */
        public static final Mark ZERO = new Mark(NetworkIO.NONE, 0);
    }

    /** What happened between a mark and now. */
    public record Since(NetworkIO usage, List<SecurityEvent> events) {
    }

    SandboxEgress(String name, EgressPolicy policy, EgressResolver resolver, AddressPolicy addresses) {
        this.name = name;
        this.proxy = new EgressProxy(policy, resolver, addresses, this::denied);
    }

    /** Has the sandbox's agent listen for its programs' connections; from now on they reach the policy point. */
    public void attach(AgentChannel channel, Duration timeout) throws IOException, TimeoutException {
        channel.listenForEgress(PROXY_PORT, this::serve, timeout);
    }

    private void serve(AgentConnection connection) {
        // On the channel's reader thread: the connection is served on a thread of its own.
        Thread.ofVirtual().name("egress-" + name).start(() -> {
            // The agent holds at most 64 open, but a connection it has closed may still be served here (a name
            // being resolved): a program that opens and resets connections in a loop must not pile them up.
            if (!inProgress.tryAcquire()) {
                proxy.refuseBusy(connection.output(), connection,
                        "more than " + MAX_IN_PROGRESS + " connections in progress");
                return;
            }
            // The slot is given back before the agent hears the close: the agent frees its own slot on that close
            // and may relay its next waiting connection at once, which must find this one's slot free (else it
            // would be refused although the sandbox never had more than 64 open).
            java.util.concurrent.atomic.AtomicBoolean held = new java.util.concurrent.atomic.AtomicBoolean(true);
            Closeable releaseThenClose = () -> {
                if (held.compareAndSet(true, false)) {
                    inProgress.release();
                }
                connection.close();
            };
            try {
                proxy.serve(connection.input(), connection.output(), releaseThenClose);
            } catch (RuntimeException e) {
                log.warn("egress of {}: a connection failed: {}", name, e.toString());
            } finally {
                try {
                    releaseThenClose.close();
                } catch (IOException e) {
                    log.debug("egress of {}: closing a connection: {}", name, e.toString());
                }
            }
        });
    }

    private void denied(String target, String reason) {
        synchronized (events) {
            deniedTotal++;
            if (events.size() < MAX_EVENTS) {
                events.add(SecurityEvent.now(DENIED, Severity.MEDIUM, "network: refused " + target + ": " + reason,
                        Map.of("target", target, "reason", reason)));
            }
        }
        log.info("egress of {}: refused {}: {}", name, target, reason);
    }

    public Mark mark() {
        synchronized (events) {
            return new Mark(proxy.usage(), deniedTotal);
        }
    }

    /** Bytes and refusals since {@code mark}; refusals beyond those kept are counted in one more event. */
    public Since since(Mark mark) {
        NetworkIO now = proxy.usage();
        NetworkIO delta = new NetworkIO(now.bytesReceived() - mark.usage().bytesReceived(),
                now.bytesSent() - mark.usage().bytesSent());
        synchronized (events) {
            List<SecurityEvent> out = new ArrayList<>();
            long kept = Math.min(events.size(), Math.max(0, Math.min(mark.denied(), MAX_EVENTS)));
            for (int i = (int) kept; i < events.size(); i++) {
                out.add(events.get(i));
            }
            long unkept = deniedTotal - mark.denied() - out.size();
            if (unkept > 0) {
                out.add(SecurityEvent.now(DENIED, Severity.MEDIUM, "network: " + unkept + " more connections "
                        + "refused (only the first " + MAX_EVENTS + " of a sandbox are described)",
                        Map.of("count", unkept)));
            }
            return new Since(delta, out);
        }
    }

    /** Closes every connection to the outside; later connections from the sandbox are refused. */
    @Override
    public void close() {
        proxy.close();
    }
}
