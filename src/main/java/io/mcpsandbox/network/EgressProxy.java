package io.mcpsandbox.network;

import io.mcpsandbox.model.NetworkIO;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One sandbox's egress: serves each connection the agent relays from the sandbox's proxy port, as an HTTP proxy
 * that checks every target ({@link EgressCheck}) before any socket opens, connects only to the addresses it
 * checked (never resolving again), counts bytes, keeps the caps and reports refusals to {@link EgressEvents}.
 *
 * <ul>
 *   <li>{@code CONNECT host:port}: after the check and the upstream connect, {@code 200}; the tunnel's first
 *       bytes must then be a TLS ClientHello whose server name (SNI) is the CONNECT host, else the tunnel is
 *       closed and the refusal reported. For a literal address target (allowed by CIDR) the hello must be TLS
 *       but its name is not compared: the whole address is allowed. No TLS interception: the bytes after the
 *       hello are relayed as they are.</li>
 *   <li>{@code METHOD http://host[:port]/path}: the Host header must name the same host and port; forwarded in
 *       origin form with hop-by-hop and {@code Proxy-*} headers removed and {@code Connection: close}; the
 *       secret headers configured for exactly that host are added (replacing any the sandbox sent with that
 *       name). Secrets go on plain HTTP only: putting one into an HTTPS request would need TLS interception
 *       (a CA the sandbox trusts, every tunnel decrypted), which this proxy does not do.</li>
 *   <li>Anything else: {@code 400}. Refused targets: {@code 403} with {@code network.denied: <reason>}.
 *       Over {@code maxConnections} concurrent upstream connections: {@code 503}. Past {@code maxBytes} (both
 *       ways, the sandbox's whole life): every connection is cut. {@code bandwidth}: both ways together.</li>
 * </ul>
 * The head and the ClientHello must arrive within {@link #HEAD_TIMEOUT}; upstream connects time out after
 * {@link #CONNECT_TIMEOUT}. Nothing the sandbox sends is logged or put into an event but the target it names.
 */
public final class EgressProxy implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(EgressProxy.class);

    static final Duration HEAD_TIMEOUT = Duration.ofSeconds(30);
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    /** One agent frame's payload: each write toward the sandbox waits for the agent's ack of the one before. */
    private static final int RELAY_CHUNK = 64 * 1024;
    private static final byte[] ESTABLISHED = "HTTP/1.1 200 Connection established\r\n\r\n"
            .getBytes(StandardCharsets.US_ASCII);

    private final EgressPolicy policy;
    private final EgressCheck check;
    private final EgressEvents events;
    private final Bandwidth bandwidth;
    private final Duration headTimeout;
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong received = new AtomicLong();
    /** Bytes reserved against maxBytes (reserved before they move, so the cap is never passed). */
    private final AtomicLong budgetUsed = new AtomicLong();
    private final AtomicBoolean budgetSpent = new AtomicBoolean();
    private final AtomicInteger activeUpstreams = new AtomicInteger();
    private final Set<Socket> upstreams = ConcurrentHashMap.newKeySet();
    /** The sandbox's connections being served, closed by {@link #close()} wherever they are waiting. */
    private final Set<Closeable> sandboxSides = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    public EgressProxy(EgressPolicy policy, EgressResolver resolver, AddressPolicy addresses, EgressEvents events) {
        this(policy, resolver, addresses, events, HEAD_TIMEOUT);
    }

    EgressProxy(EgressPolicy policy, EgressResolver resolver, AddressPolicy addresses, EgressEvents events,
                Duration headTimeout) {
        this.policy = policy;
        this.check = new EgressCheck(policy, resolver, addresses);
        this.events = events;
        this.bandwidth = new Bandwidth(policy.bandwidth());
        this.headTimeout = headTimeout;
    }

    /** The check made for each target, without sockets. */
    public EgressDecision decide(String host, int port) {
        return check.decide(host, port);
    }

    /**
     * Serves one connection from the sandbox (blocking: call on its own virtual thread). Returns when both
     * directions are done; closes {@code abort} (the agent's connection) when it refuses or fails.
     */
    public void serve(InputStream fromSandbox, OutputStream toSandbox, Closeable abort) {
        sandboxSides.add(abort);
        try (Watchdog watchdog = new Watchdog(abort, headTimeout)) {
            if (closed) {
                answer(toSandbox, 503, "Service Unavailable", "network.denied: the sandbox is ending");
                return;
            }
            serve(fromSandbox, toSandbox, abort, watchdog);
        } catch (IOException e) {
            // The sandbox's connection or the upstream one failed, or was cut: nothing more to do than close.
            log.debug("Egress connection ended: {}", e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            sandboxSides.remove(abort);
            closeQuietly(abort);
        }
    }

    private void serve(InputStream fromSandbox, OutputStream toSandbox, Closeable abort, Watchdog watchdog)
            throws IOException, InterruptedException {
        ProxyRequestHead.Read read;
        try {
            read = ProxyRequestHead.read(fromSandbox);
        } catch (BadProxyRequest e) {
            if (e.target() != null) {
                events.denied(e.target(), e.getMessage());
            }
            answer(toSandbox, 400, "Bad Request", "bad proxy request: " + e.getMessage());
            return;
        }
        if (read == null) {
            return;
        }
        ProxyRequestHead head = read.head();
        EgressDecision decision = check.decide(hostOf(head), portOf(head));
        if (!decision.isAllowed()) {
            refuse(toSandbox, 403, "Forbidden", decision.target(), decision.refusal());
            return;
        }
        if (budgetSpent.get()) {
            refuse(toSandbox, 403, "Forbidden", decision.target(), "network.max-bytes reached");
            return;
        }
        if (activeUpstreams.incrementAndGet() > policy.maxConnections()) {
            activeUpstreams.decrementAndGet();
            refuse(toSandbox, 503, "Service Unavailable", decision.target(),
                    "at most " + policy.maxConnections() + " connections at once (network.max-connections)");
            return;
        }
        try {
            Socket upstream = connect(decision);
            if (upstream == null) {
                answer(toSandbox, 502, "Bad Gateway", "could not connect to " + decision.target());
                return;
            }
            try (upstream) {
                if (head instanceof ProxyRequestHead.Connect) {
                    tunnel(decision, read.rest(), toSandbox, abort, upstream, watchdog);
                } else {
                    forward((ProxyRequestHead.Forward) head, decision, read.rest(), toSandbox, abort, upstream,
                            watchdog);
                }
            } finally {
                upstreams.remove(upstream);
            }
        } finally {
            activeUpstreams.decrementAndGet();
        }
    }

    private void tunnel(EgressDecision decision, InputStream fromSandbox, OutputStream toSandbox, Closeable abort,
                        Socket upstream, Watchdog watchdog) throws IOException, InterruptedException {
        toSandbox.write(ESTABLISHED);
        toSandbox.flush();
        TlsClientHello hello;
        try {
            hello = TlsClientHello.read(fromSandbox);
        } catch (TlsClientHello.NotAClientHello e) {
            if (!e.nothingSent()) {
                events.denied(decision.target(), e.getMessage());
            }
            return;
        }
        boolean literal = NameResolver.isLiteral(decision.host());
        if (!literal && hello.serverName() == null) {
            events.denied(decision.target(), "the TLS ClientHello names no server (SNI)");
            return;
        }
        if (!literal && !hello.serverName().equals(decision.host())) {
            events.denied(decision.target(), "the TLS server name (SNI) is not the CONNECT host");
            return;
        }
        watchdog.cancel();
        OutputStream out = upstream.getOutputStream();
        send(out, hello.record(), hello.record().length, decision);
        relay(decision, fromSandbox, toSandbox, abort, upstream, false);
    }

    private void forward(ProxyRequestHead.Forward head, EgressDecision decision, InputStream fromSandbox,
                         OutputStream toSandbox, Closeable abort, Socket upstream, Watchdog watchdog)
            throws IOException, InterruptedException {
        watchdog.cancel();
        byte[] upstreamHead = ProxyRequestHead.upstreamHead(head, policy.secretHeadersFor(decision.host()));
        send(upstream.getOutputStream(), upstreamHead, upstreamHead.length, decision);
        relay(decision, fromSandbox, toSandbox, abort, upstream, true);
    }

    /**
     * Bytes both ways until both are done. {@code endWithResponse}: once upstream has answered and closed,
     * the exchange is over (Connection: close), so the sandbox's side is closed too rather than waited for.
     */
    /**
     * Reads what {@code in} has, up to a whole buffer without waiting for more than the first read: the fewer the
     * frames toward the sandbox, the fewer the round trips through its agent (one frame is in flight at a time).
     */
    private static int fill(InputStream in, byte[] buffer) throws IOException {
        int n = in.read(buffer);
        while (n > 0 && n < buffer.length && in.available() > 0) {
            int more = in.read(buffer, n, Math.min(in.available(), buffer.length - n));
            if (more <= 0) {
                break;
            }
            n += more;
        }
        return n;
    }

    private void relay(EgressDecision decision, InputStream fromSandbox, OutputStream toSandbox, Closeable abort,
                       Socket upstream, boolean endWithResponse) throws IOException, InterruptedException {
        Thread down = Thread.ofVirtual().name("egress-down").start(() -> {
            try {
                InputStream in = upstream.getInputStream();
                byte[] buffer = new byte[RELAY_CHUNK];
                int n;
                while ((n = fill(in, buffer)) >= 0) {
                    reserve(n, decision);
                    bandwidth.take(n);
                    toSandbox.write(buffer, 0, n);
                    toSandbox.flush();
                    received.addAndGet(n);
                }
                toSandbox.close(); // half close: the sandbox reads EOF
                if (endWithResponse) {
                    closeQuietly(abort);
                }
            } catch (IOException e) {
                closeQuietly(upstream);
                closeQuietly(abort);
            } catch (InterruptedException e) {
                closeQuietly(upstream);
                closeQuietly(abort);
            }
        });
        try {
            OutputStream out = upstream.getOutputStream();
            byte[] buffer = new byte[RELAY_CHUNK];
            int n;
            while ((n = fromSandbox.read(buffer)) >= 0) {
                send(out, buffer, n, decision);
            }
            upstream.shutdownOutput();
        } catch (IOException e) {
            if (!down.isAlive()) {
                return; // the exchange ended from upstream's side: the sandbox's side was closed on purpose
            }
            closeQuietly(upstream);
            throw e;
        } finally {
            down.join();
        }
    }

    private void send(OutputStream out, byte[] bytes, int length, EgressDecision decision)
            throws IOException, InterruptedException {
        reserve(length, decision);
        bandwidth.take(length);
        out.write(bytes, 0, length);
        out.flush();
        sent.addAndGet(length);
    }

    /** Counts {@code n} bytes against maxBytes before they move; past it, every connection is cut. */
    private void reserve(int n, EgressDecision decision) throws IOException {
        if (budgetUsed.addAndGet(n) > policy.maxBytes()) {
            if (budgetSpent.compareAndSet(false, true)) {
                events.denied(decision.target(), "network.max-bytes (" + policy.maxBytes() + " bytes) reached");
            }
            upstreams.forEach(EgressProxy::closeQuietly);
            throw new IOException("network.max-bytes reached");
        }
    }

    private Socket connect(EgressDecision decision) {
        long deadline = System.nanoTime() + CONNECT_TIMEOUT.toNanos();
        for (InetAddress address : decision.addresses()) {
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) {
                break;
            }
            Socket socket = new Socket();
            upstreams.add(socket);
            if (closed) {
                upstreams.remove(socket);
                closeQuietly(socket);
                return null;
            }
            try {
                // An InetSocketAddress made from an InetAddress is never resolved again.
                socket.connect(new InetSocketAddress(address, decision.port()), (int) left);
                socket.setTcpNoDelay(true);
                return socket;
            } catch (IOException e) {
                upstreams.remove(socket);
                closeQuietly(socket);
                log.debug("Egress connect to {} failed: {}", decision.target(), e.toString());
            }
        }
        return null;
    }

    /**
     * Refuses a connection that cannot be served now (too many in progress) as any other refusal: an event, a 503
     * naming the reason, then the close. A program sees why, never a connection that ends without an answer.
     */
    public void refuseBusy(OutputStream toSandbox, Closeable abort, String reason) {
        try {
            refuse(toSandbox, 503, "Service Unavailable", "(any)", reason);
        } catch (IOException e) {
            log.debug("Egress refusal not delivered: {}", e.toString());
        } finally {
            closeQuietly(abort);
        }
    }

    private void refuse(OutputStream toSandbox, int status, String text, String target, String reason)
            throws IOException {
        events.denied(target, reason);
        answer(toSandbox, status, text, "network.denied: " + reason);
    }

    private static void answer(OutputStream toSandbox, int status, String text, String line) throws IOException {
        byte[] body = (line + "\n").getBytes(StandardCharsets.UTF_8);
        String head = "HTTP/1.1 " + status + " " + text + "\r\nContent-Type: text/plain; charset=utf-8\r\n"
                + "Content-Length: " + body.length + "\r\nConnection: close\r\n\r\n";
        toSandbox.write(head.getBytes(StandardCharsets.US_ASCII));
        toSandbox.write(body);
        toSandbox.flush();
        toSandbox.close();
    }

    private static String hostOf(ProxyRequestHead head) {
        return head instanceof ProxyRequestHead.Connect c ? c.host() : ((ProxyRequestHead.Forward) head).host();
    }

    private static int portOf(ProxyRequestHead head) {
        return head instanceof ProxyRequestHead.Connect c ? c.port() : ((ProxyRequestHead.Forward) head).port();
    }

    /** Bytes read from upstream sockets (received) and written to them (sent). */
    public NetworkIO usage() {
        return new NetworkIO(received.get(), sent.get());
    }

    /** Closes every upstream socket and every sandbox connection being served; later {@link #serve} calls refuse. */
    @Override
    public void close() {
        closed = true;
        List.copyOf(upstreams).forEach(EgressProxy::closeQuietly);
        List.copyOf(sandboxSides).forEach(EgressProxy::closeQuietly);
    }

    private static void closeQuietly(Closeable closeable) {
        try {
            closeable.close();
        } catch (IOException e) {
            // already failed or closed: nothing to add
        }
    }

    /** Closes the sandbox's connection when the head (and ClientHello) do not arrive in time. */
    private static final class Watchdog implements AutoCloseable {
        private final Thread timer;

        Watchdog(Closeable abort, Duration timeout) {
            this.timer = Thread.ofVirtual().name("egress-head-timeout").start(() -> {
                try {
                    Thread.sleep(timeout);
                    closeQuietly(abort);
                } catch (InterruptedException e) {
                    // cancelled: the head came in time
                }
            });
        }

        void cancel() {
            timer.interrupt();
        }

        @Override
        public void close() {
            cancel();
        }
    }
}
