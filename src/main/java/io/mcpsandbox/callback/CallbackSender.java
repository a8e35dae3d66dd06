package io.mcpsandbox.callback;

import io.micrometer.core.instrument.MeterRegistry;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.eclipse.jetty.client.BytesRequestContent;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Result;
import org.eclipse.jetty.client.transport.HttpClientTransportOverHTTP;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.SocketAddressResolver;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Delivers results to callback URLs: a signed {@code POST} of the result's JSON, retried with back-off, durable
 * across restarts through a {@link CallbackOutbox}. Each attempt checks the URL again ({@link CallbackPolicy}) and
 * connects only to addresses {@link io.mcpsandbox.network.AddressPolicy} allows, resolved at connect time by
 * this class (a name that now answers a refused address is refused, never connected, never retried). Redirects
 * are not followed, no proxy is used, TLS certificates and host names are verified. At most
 * {@value #CONCURRENT_DELIVERIES} deliveries run at once.
 *
 * <p>Meter: {@code mcp.sandbox.callbacks} counted by {@code outcome}: {@code delivered} (a 2xx answer),
 * {@code retried} (an attempt that failed and is tried again), {@code failed} (given up after the last attempt,
 * or no result to send), {@code refused} (the URL or an address it resolves to is refused).
 */
public final class CallbackSender implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CallbackSender.class);

    static final int CONCURRENT_DELIVERIES = 4;
    /** The receiver's answer is read only for its status; more body than this aborts the exchange. */
    static final int MAX_RESPONSE_BODY_BYTES = 64 * 1024;
    static final Duration FIRST_RETRY = Duration.ofSeconds(1);
    static final Duration MAX_RETRY = Duration.ofMinutes(5);
    public static final String METER = "mcp.sandbox.callbacks";

    private final CallbackSettings settings;
    private final CallbackPolicy policy;
    private final CallbackOutbox outbox;
    private final Function<String, Optional<byte[]>> resultBody;
    private final CallbackSigner signer;
    private final MeterRegistry registry;
    private final Clock clock;
    private final HttpClient client;
    private final ScheduledThreadPoolExecutor scheduler;
    /** Executions with an attempt scheduled or running: resume() and deliver() never start a second chain. */
    private final Set<String> active = ConcurrentHashMap.newKeySet();

    /**
     * @param resultBody the JSON body of an execution's final result, read at each attempt; empty when there is
     *                   none (the delivery then fails)
     */
    public CallbackSender(CallbackSettings settings, CallbackPolicy policy, CallbackOutbox outbox,
                          Function<String, Optional<byte[]>> resultBody, MeterRegistry registry) {
        this(settings, policy, outbox, resultBody, registry, Clock.systemUTC());
    }

    CallbackSender(CallbackSettings settings, CallbackPolicy policy, CallbackOutbox outbox,
                   Function<String, Optional<byte[]>> resultBody, MeterRegistry registry, Clock clock) {
        this.settings = settings;
        this.policy = policy;
        this.outbox = outbox;
        this.resultBody = resultBody;
        this.signer = new CallbackSigner(settings.secret());
        this.registry = registry;
        this.clock = clock;
        this.client = newClient(settings.timeout());
        AtomicInteger threads = new AtomicInteger();
        this.scheduler = new ScheduledThreadPoolExecutor(CONCURRENT_DELIVERIES, r -> {
            Thread thread = new Thread(r, "callback-sender-" + threads.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        });
        this.scheduler.setRemoveOnCancelPolicy(true);
    }

    private HttpClient newClient(Duration timeout) {
        SslContextFactory.Client tls = new SslContextFactory.Client();
        tls.setEndpointIdentificationAlgorithm("HTTPS");
        ClientConnector connector = new ClientConnector();
        connector.setSslContextFactory(tls);
        connector.setSelectors(1);
        connector.setConnectTimeout(timeout);
        connector.setIdleTimeout(timeout);
        QueuedThreadPool pool = new QueuedThreadPool(16, 2);
        pool.setName("callback-http");
        pool.setDaemon(true);
        HttpClient http = new HttpClient(new HttpClientTransportOverHTTP(connector));
        http.setExecutor(pool);
        http.setSocketAddressResolver(new CheckedAddressResolver());
        http.setFollowRedirects(false);
        http.setConnectTimeout(timeout.toMillis());
        http.setIdleTimeout(timeout.toMillis());
        http.setAddressResolutionTimeout(timeout.toMillis());
        http.setMaxResponseHeadersSize(16 * 1024);
        http.setUserAgentField(new HttpField(HttpHeader.USER_AGENT, "mcp-sandbox-callback"));
        http.setMaxConnectionsPerDestination(CONCURRENT_DELIVERIES);
        // No Accept-Encoding: the answer is not decoded (nor read), so a compressed bomb costs nothing.
        http.getContentDecoderFactories().clear();
        try {
            http.start();
        } catch (Exception e) {
            throw new IllegalStateException("Could not start the callback HTTP client", e);
        }
        return http;
    }

    /**
     * Delivers the result of {@code executionId} to {@code url} (a URL {@link CallbackPolicy#check} accepted).
     * The outbox entry is written before this returns, so a restart resumes the delivery. Call it once per
     * execution: while a delivery of the same execution is under way, a second call only rewrites its entry.
     */
    public void deliver(String executionId, URI url) {
        PendingCallback pending = new PendingCallback(executionId, url.toString(), 0, clock.instant());
        outbox.save(pending);
        start(pending);
    }

    /** Schedules every delivery in the outbox (at server start: what the last process left). */
    public void resume() {
        List<PendingCallback> pending = outbox.pending();
        if (!pending.isEmpty()) {
            log.info("Resuming {} pending callback deliveries", pending.size());
        }
        pending.forEach(this::start);
    }

    private void start(PendingCallback pending) {
        if (active.add(pending.executionId())) {
            schedule(pending);
        }
    }

    private void schedule(PendingCallback pending) {
        long delayMillis = Math.max(0, Duration.between(clock.instant(), pending.nextAttemptAt()).toMillis());
        try {
            scheduler.schedule(() -> attempt(pending), delayMillis, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // Closing: the entry stays in the outbox for the next start.
            active.remove(pending.executionId());
        }
    }

    private void attempt(PendingCallback pending) {
        String id = pending.executionId();
        int attempt = pending.attempts() + 1;
        String host = "(invalid URL)";
        try {
            URI uri = policy.check(pending.url());
            host = CallbackPolicy.hostOf(uri);
            Optional<byte[]> body = resultBody.apply(id);
            if (body.isEmpty()) {
                finish(id, "failed");
                log.warn("Callback for execution {} to {} given up: the execution has no stored result", id, host);
                return;
            }
            int status = post(uri, id, attempt, body.get());
            if (status >= 200 && status < 300) {
                finish(id, "delivered");
                log.debug("Callback for execution {} delivered to {} (attempt {})", id, host, attempt);
                return;
            }
            retryOrGiveUp(pending, attempt, host, "HTTP " + status);
        } catch (CallbackRefused e) {
            finish(id, "refused");
            log.warn("Callback for execution {} refused at delivery: {}", id, e.getMessage());
        } catch (InterruptedException e) {
            // Closing: the entry stays in the outbox for the next start.
            active.remove(id);
            Thread.currentThread().interrupt();
        } catch (DeliveryFailed e) {
            retryOrGiveUp(pending, attempt, host, e.getMessage());
        } catch (RuntimeException e) {
            // The outbox or the result store failed: try again later rather than lose the delivery.
            log.warn("Callback for execution {}: attempt {} could not run: {}", id, attempt, e.toString());
            retryOrGiveUp(pending, attempt, host, e.toString());
        }
    }

    private void retryOrGiveUp(PendingCallback pending, int attempt, String host, String reason) {
        String id = pending.executionId();
        if (attempt >= settings.maxAttempts()) {
            finish(id, "failed");
            log.warn("Callback for execution {} to {} given up after {} attempts; last: {}", id, host, attempt, reason);
            return;
        }
        Instant next = clock.instant().plus(backoff(attempt));
        PendingCallback updated = new PendingCallback(id, pending.url(), attempt, next);
        try {
            outbox.save(updated);
        } catch (RuntimeException e) {
            log.warn("Callback for execution {}: could not save its retry: {}", id, e.toString());
        }
        count("retried");
        log.info("Callback for execution {} to {} failed (attempt {}: {}); next attempt at {}",
                id, host, attempt, reason, next);
        schedule(updated);
    }

    /** The wait after {@code attempts} failed attempts: 1 s doubling, capped at 5 min, 75-125 % jitter. */
    static Duration backoff(int attempts) {
        long base = FIRST_RETRY.toMillis() << Math.min(attempts - 1, 20);
        long capped = Math.min(base, MAX_RETRY.toMillis());
        long jittered = (long) (capped * ThreadLocalRandom.current().nextDouble(0.75, 1.25));
        return Duration.ofMillis(Math.min(jittered, MAX_RETRY.toMillis()));
    }

    private void finish(String id, String outcome) {
        try {
            outbox.remove(id);
        } finally {
            active.remove(id);
            count(outcome);
        }
    }

    private void count(String outcome) {
        registry.counter(METER, "outcome", outcome).increment();
    }

    /** Sends one attempt; the HTTP status of the answer. */
    private int post(URI uri, String id, int attempt, byte[] body)
            throws CallbackRefused, DeliveryFailed, InterruptedException {
        long timestamp = clock.instant().getEpochSecond();
        Map<String, String> headers = signer.headers(id, timestamp, attempt, body);
        AtomicLong received = new AtomicLong();
        CompletableFuture<Result> done = new CompletableFuture<>();
        Request request = client.newRequest(uri)
                .method(HttpMethod.POST)
                .timeout(settings.timeout().toMillis(), TimeUnit.MILLISECONDS)
                .headers(h -> headers.forEach(h::put))
                .body(new BytesRequestContent("application/json", body))
                .onResponseContent((response, chunk) -> {
                    if (received.addAndGet(chunk.remaining()) > MAX_RESPONSE_BODY_BYTES) {
                        response.abort(new DeliveryFailed("answer body over " + MAX_RESPONSE_BODY_BYTES + " bytes"));
                    }
                });
        request.send(done::complete);
        Result result;
        try {
            result = done.get(settings.timeout().toMillis() + 5_000, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            request.abort(e);
            throw new DeliveryFailed("timed out");
        } catch (InterruptedException e) {
            request.abort(e);
            throw e;
        } catch (ExecutionException e) {
            throw new DeliveryFailed(e.getCause().toString());
        }
        int status = result.getResponse() == null ? 0 : result.getResponse().getStatus();
        if (result.isFailed()) {
            CallbackRefused refused = refusalIn(result.getFailure());
            if (refused != null) {
                throw refused;
            }
            // The status line arrived and the body was cut off (too large, or the peer closed): the receiver
            // answered, its status decides.
            if (status > 0 && result.getRequestFailure() == null) {
                return status;
            }
            throw new DeliveryFailed(describe(result.getFailure()));
        }
        return status;
    }

    private static CallbackRefused refusalIn(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof CallbackRefused refused) {
                return refused;
            }
        }
        return null;
    }

    private static String describe(Throwable failure) {
        String text = failure.getClass().getSimpleName()
                + (failure.getMessage() == null ? "" : ": " + failure.getMessage());
        return text.length() > 200 ? text.substring(0, 200) + "..." : text;
    }

    @Override
    public void close() {
        scheduler.shutdownNow();
        try {
            scheduler.awaitTermination(settings.timeout().toMillis() + 5_000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            client.stop();
        } catch (Exception e) {
            log.warn("Could not stop the callback HTTP client: {}", e.toString());
        }
    }

    /** An attempt that failed in a way worth retrying (connection, timeout, cut-off answer). */
    private static final class DeliveryFailed extends Exception {
        DeliveryFailed(String message) {
            super(message, null, false, false);
        }
    }

    /**
     * Jetty's resolver for every new connection: the host's addresses through {@link CallbackPolicy}, which refuses
     * the whole host when any address is refused. So the address connected to is one that was checked, at
     * connect time, whatever DNS answered when the URL was submitted.
     */
    private final class CheckedAddressResolver implements SocketAddressResolver {
        @Override
        public void resolve(String host, int port, Map<String, Object> context,
                            Promise<List<InetSocketAddress>> promise) {
            // Off the caller's thread: the system resolver blocks.
            client.getExecutor().execute(() -> {
                try {
                    List<InetAddress> addresses = policy.allowedAddresses(host);
                    promise.succeeded(addresses.stream().map(a -> new InetSocketAddress(a, port)).toList());
                } catch (CallbackRefused e) {
                    promise.failed(e);
                } catch (RuntimeException e) {
                    promise.failed(e);
                }
            });
        }
    }
}
