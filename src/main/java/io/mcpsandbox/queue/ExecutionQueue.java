package io.mcpsandbox.queue;

import io.mcpsandbox.execution.Admission;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.RequestSummary;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.record.ExecutionStore;
import io.mcpsandbox.record.ExecutionStoreException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The durable queue behind async executions (docs/queue.md): a submission is written to the {@link QueueStore}
 * before it is answered, waits in {@link FairOrder} (users in turn, priority within a user), and starts when
 * {@link Admission} has a slot, interactive callers first. An item leaves the store once its execution has a
 * record of its own, so a restart (clean or kill -9) runs each waiting item exactly once: one whose record
 * exists has started (and recovery ends it if it was cut off), the others run.
 */
public final class ExecutionQueue implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ExecutionQueue.class);
    /** How long the dispatcher sleeps when the store cannot give a request back, before it tries again. */
    private static final Duration STORE_RETRY = Duration.ofSeconds(1);
    /** The duration assumed for estimates until queued executions have run. */
    private static final long INITIAL_DURATION_MS = 1000;
    /** How long another queue's snapshot answers {@link #findIn}; how many are kept (one per cluster node). */
    private static final Duration SNAPSHOT_AGE = Duration.ofSeconds(1);
    private static final int MAX_SNAPSHOTS = 64;

    /** Starts a dispatched item: runs it with its permit (and frees the permit when it ends). */
    @FunctionalInterface
    public interface Starter {
        CompletableFuture<ExecutionResult> start(String executionId, ExecutionRequest request,
                                                 Admission.Permit permit);
    }

    /** A submission the queue took: its id and where it stands. */
    public record Accepted(String executionId, int position, Instant estimatedStartAt) {
    }

    /** One request of a batch: accepted, or refused by a limit. */
    public record Outcome(Accepted accepted, QueueFullException refused) {
    }

    public enum CancelOutcome { CANCELLED, NOT_QUEUED }

    private final QueueStore store;
    private final ExecutionStore records;
    private final QueueSettings settings;
    private final Admission admission;
    private final Starter starter;
    private final Clock clock;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition kicked = lock.newCondition();
    private final FairOrder order = new FairOrder();
    /** Dispatched but not yet listed as running by the execution service. */
    private final Map<String, QueuedItem> starting = new HashMap<>();
    private final AtomicLong started = new AtomicLong();
    private final AtomicLong cancelled = new AtomicLong();
    private final Map<String, AtomicLong> refused = new java.util.concurrent.ConcurrentHashMap<>();
    private volatile Consumer<Duration> waitObserver = w -> { };
    private volatile java.util.function.BiConsumer<String, ExecutionRequest> onEnded = (id, r) -> { };
    private long nextSequence = 1;
    private boolean kick;
    private boolean closed;
    /** Recent queued executions' duration, smoothed: for estimates. */
    private volatile double meanDurationMs = INITIAL_DURATION_MS;
    private Thread dispatcher;

    public ExecutionQueue(QueueStore store, ExecutionStore records, QueueSettings settings, Admission admission,
                          Starter starter) {
        this(store, records, settings, admission, starter, Clock.systemUTC());
    }

    ExecutionQueue(QueueStore store, ExecutionStore records, QueueSettings settings, Admission admission,
                   Starter starter, Clock clock) {
        this.store = store;
        this.records = records;
        this.settings = settings;
        this.admission = admission;
        this.starter = starter;
        this.clock = clock;
    }

    /** {@link #load}, then {@link #startDispatching()}. Returns how many wait. */
    public int start() {
        int waiting = load("the server that ran it stopped before it ended");
        startDispatching();
        return waiting;
    }

    /**
     * Loads what the store holds (after a restart: items whose execution has a record had started and are
     * dropped; the rest wait again, in their order). Returns how many wait.
     *
     * <p>Call it after crash recovery. An item whose record still says running was started by the process that
     * held the queue before, which is dead (this one holds the lock now): its record ends {@code error} with
     * {@code deadReason}. Recovery ends most such records itself, from the sandboxes it reaps; this covers a
     * death after the record was written and before the sandbox existed (with Redis, recovery cannot tell
     * those from another host's).
     *
     * @throws ExecutionStoreException when the store cannot be read
     */
    public int load(String deadReason) {
        int resumed = 0;
        int dropped = 0;
        lock.lock();
        try {
            for (QueuedItem item : store.items()) {
                nextSequence = Math.max(nextSequence, item.sequence() + 1);
                Optional<ExecutionRecord> record = records.find(item.executionId());
                if (record.isPresent()) {
                    if (record.get().status() == ExecutionStatus.RUNNING) {
                        endCutOff(record.get(), deadReason);
                    }
                    store.remove(item.executionId()); // it started before the stop; its record tells the rest
                    dropped++;
                } else {
                    order.add(item);
                    resumed++;
                }
            }
        } finally {
            lock.unlock();
        }
        if (resumed + dropped > 0) {
            log.info("Queue: {} executions resumed from {} ({} had started before the stop)", resumed,
                    store.describe(), dropped);
        }
        return resumed;
    }

    /** This queue's id when it is kept in Redis (where another server can take it over); empty otherwise. */
    public Optional<String> redisQueueId() {
        return store instanceof RedisQueueStore redis ? Optional.of(redis.queueId()) : Optional.empty();
    }

    /**
     * Takes over what waits in another server's queue in the same Redis (a lost cluster node's, docs/cluster.md):
     * each item moves into this queue in one step (see {@link RedisQueueStore#moveFrom}) and runs here in its turn,
     * whatever the queue's limits (it was accepted already). An item whose execution has a record had started
     * there: it leaves the store, and a record still running ends {@code error} with {@code deadReason}. Stops at
     * once when {@code guardKey} exists (that server is back: what is left is its own). Returns how many moved here.
     *
     * @throws IllegalStateException   when this queue is not kept in Redis
     * @throws ExecutionStoreException when a store cannot be read or written (what has moved stays moved)
     */
    public int adopt(String otherQueueId, String guardKey, String deadReason) {
        if (!(store instanceof RedisQueueStore redis)) {
            throw new IllegalStateException("only a queue kept in Redis can take over another server's items");
        }
        if (otherQueueId.equals(redis.queueId())) {
            return 0;
        }
        int moved = 0;
        int started = 0;
        for (QueuedItem theirs : redis.itemsOf(otherQueueId)) {
            long sequence;
            lock.lock();
            try {
                if (closed) {
                    break;
                }
                sequence = nextSequence++;
            } finally {
                lock.unlock();
            }
            RedisQueueStore.Move move = redis.moveFrom(otherQueueId, theirs.executionId(), sequence, guardKey);
            if (move.guarded()) {
                log.info("Queue: queue {} is served again; {} of its executions moved here", otherQueueId, moved);
                break;
            }
            if (move.item() == null) {
                continue; // gone meanwhile: it started there, or another server took it
            }
            lock.lock();
            try {
                Optional<ExecutionRecord> record = records.find(move.item().executionId());
                if (record.isPresent()) {
                    if (record.get().status() == ExecutionStatus.RUNNING) {
                        endCutOff(record.get(), deadReason);
                    }
                    store.remove(move.item().executionId());
                    started++;
                    continue;
                }
                order.add(move.item());
                kick = true;
                kicked.signalAll();
                moved++;
            } finally {
                lock.unlock();
            }
        }
        if (moved + started > 0) {
            log.warn("Queue: {} executions taken over from queue {} ({} had started there)", moved, otherQueueId,
                    started);
        }
        return moved;
    }

    private void endCutOff(ExecutionRecord r, String reason) {
        records.recordEnd(r.cutOff(reason, clock.instant()));
        ExecutionRequest request = store.request(r.executionId()).map(QueuedRequests::read).orElse(null);
        if (request != null) {
            onEnded.accept(r.executionId(), request);
        }
    }

    /** Starts running what waits as admission frees slots. */
    public void startDispatching() {
        admission.onRelease(this::kick);
        dispatcher = Thread.ofPlatform().daemon().name("queue-dispatcher").start(this::dispatchLoop);
    }

    /**
     * Writes the request to the store and queues it.
     *
     * @throws QueueFullException       when a limit (per user, in all, bytes) is reached
     * @throws ExecutionStoreException when the store cannot write it (nothing was accepted)
     */
    public Accepted enqueue(ExecutionRequest request) throws QueueFullException {
        Outcome o = enqueueAll(List.of(request)).get(0);
        if (o.refused() != null) {
            throw o.refused();
        }
        return o.accepted();
    }

    /**
     * Queues each request that fits the limits, in order, all written in one transaction; the outcome of each,
     * in the same order.
     *
     * @throws ExecutionStoreException when the store cannot write them (none was accepted)
     */
    public List<Outcome> enqueueAll(List<ExecutionRequest> requests) {
        List<byte[]> bodies = requests.stream().map(QueuedRequests::write).toList();
        lock.lock();
        try {
            Instant now = clock.instant();
            List<Outcome> outcomes = new ArrayList<>(requests.size());
            List<QueueStore.Entry> entries = new ArrayList<>();
            Map<String, Integer> perUser = new HashMap<>();
            long bytes = order.bytes();
            int total = order.size();
            for (int n = 0; n < requests.size(); n++) {
                String user = userOf(requests.get(n));
                int mine = order.size(user) + perUser.getOrDefault(user, 0);
                QueueFullException full = full(user, mine, total, bytes, bodies.get(n).length);
                if (full != null) {
                    refused.computeIfAbsent(full.limit(), k -> new AtomicLong()).incrementAndGet();
                    outcomes.add(new Outcome(null, full));
                    continue;
                }
                QueuedItem item = new QueuedItem(UUID.randomUUID().toString(), user, requests.get(n).priority(),
                        nextSequence + entries.size(), now, bodies.get(n).length);
                entries.add(new QueueStore.Entry(item, bodies.get(n)));
                perUser.merge(user, 1, Integer::sum);
                total++;
                bytes += item.requestBytes();
                outcomes.add(null); // filled in once written
            }
            if (!entries.isEmpty()) {
                store.add(entries); // before anyone is told: an accepted item survives a crash
                nextSequence += entries.size();
            }
            int e = 0;
            for (int n = 0; n < outcomes.size(); n++) {
                if (outcomes.get(n) == null) {
                    QueuedItem item = entries.get(e++).item();
                    order.add(item);
                    outcomes.set(n, new Outcome(new Accepted(item.executionId(), 0, now), null));
                }
            }
            // Positions once all are in: a batch's own items count.
            for (int n = 0; n < outcomes.size(); n++) {
                Accepted a = outcomes.get(n).accepted();
                if (a != null) {
                    int position = order.position(a.executionId()).orElse(0);
                    outcomes.set(n, new Outcome(new Accepted(a.executionId(), position, estimate(position, now)),
                            null));
                }
            }
            if (!entries.isEmpty()) {
                kick = true;
                kicked.signalAll();
            }
            return outcomes;
        } finally {
            lock.unlock();
        }
    }

    private QueueFullException full(String user, int mine, int total, long bytes, long requestBytes) {
        Duration retry = Duration.ofSeconds(Math.max(1, Math.min(60, Math.round(meanDurationMs / 1000.0))));
        if (mine >= settings.maxPerUser()) {
            return new QueueFullException(QueueSettings.MAX_PER_USER, "queue full for user '" + user + "': " + mine
                    + " executions waiting (limit " + settings.maxPerUser() + ", " + QueueSettings.MAX_PER_USER + ")",
                    retry);
        }
        if (total >= settings.maxTotal()) {
            return new QueueFullException(QueueSettings.MAX_TOTAL, "queue full: " + total
                    + " executions waiting (limit " + settings.maxTotal() + ", " + QueueSettings.MAX_TOTAL + ")",
                    retry);
        }
        if (bytes + requestBytes > settings.maxBytes()) {
            return new QueueFullException(QueueSettings.MAX_BYTES, "queue full: the waiting requests hold " + bytes
                    + " bytes and this one " + requestBytes + " (limit " + settings.maxBytes() + ", "
                    + QueueSettings.MAX_BYTES + ")", retry);
        }
        return null;
    }

    /** A waiting (or just dispatched) execution, with its place. */
    public Optional<QueuedView> find(String executionId) {
        lock.lock();
        try {
            Instant now = clock.instant();
            Optional<QueuedItem> waiting = order.find(executionId);
            if (waiting.isPresent()) {
                int position = order.position(executionId).orElse(0);
                return Optional.of(view(waiting.get(), position, now));
            }
            QueuedItem dispatched = starting.get(executionId);
            return dispatched == null ? Optional.empty() : Optional.of(view(dispatched, 0, now));
        } finally {
            lock.unlock();
        }
    }

    /** Waiting items in run order, of one user or (null) of all, at most {@code limit}. */
    public List<QueuedView> list(String userIdOrNull, int limit) {
        lock.lock();
        try {
            Instant now = clock.instant();
            return order.ordered(i -> userIdOrNull == null || userIdOrNull.equals(i.userId()), limit).stream()
                    .map(p -> view(p.item(), p.position(), now)).toList();
        } finally {
            lock.unlock();
        }
    }

    /**
     * What waits in a store, read without serving it (the CLI): in the order a server starting now would run it
     * (a running server's turn may be further on), without start estimates.
     */
    public static List<QueuedView> waitingIn(QueueStore store, String userIdOrNull, int limit) {
        FairOrder order = new FairOrder();
        store.items().forEach(order::add);
        return order.ordered(i -> userIdOrNull == null || userIdOrNull.equals(i.userId()), limit).stream()
                .map(p -> storedView(p.item(), p.position())).toList();
    }

    /** Another queue as read at {@code at}: for {@link #findIn}, reused for a second. */
    private record Snapshot(Instant at, FairOrder order) {
    }

    private final Map<String, Snapshot> others = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * An execution waiting in another server's queue in the same Redis (a cluster node's), as {@link #waitingIn}
     * shows it: its place in the order that queue's server would run it in (less the items it runs now, which stay
     * in its store until they end), without a start estimate. That queue is read whole at most once a second (a
     * poll of many ids costs one read per queue). Empty when this queue is not kept in Redis, or the execution does
     * not wait there.
     */
    public Optional<QueuedView> findIn(String otherQueueId, Set<String> runningThere, String executionId) {
        if (!(store instanceof RedisQueueStore redis) || runningThere.contains(executionId)) {
            return Optional.empty();
        }
        Instant now = clock.instant();
        Snapshot s = others.get(otherQueueId);
        if (s == null || Duration.between(s.at(), now).compareTo(SNAPSHOT_AGE) > 0
                || s.order().find(executionId).isEmpty()) {
            FairOrder order = new FairOrder();
            redis.itemsOf(otherQueueId).stream().filter(i -> !runningThere.contains(i.executionId()))
                    .forEach(order::add);
            s = new Snapshot(now, order);
            if (others.size() > MAX_SNAPSHOTS) {
                others.clear();
            }
            others.put(otherQueueId, s);
        }
        FairOrder order = s.order();
        return order.find(executionId).map(i -> storedView(i, order.position(executionId).orElse(0)));
    }

    /** An item as read from a store by a process that does not serve it: no start estimate. */
    private static QueuedView storedView(QueuedItem i, int position) {
        return new QueuedView(i.executionId(), ExecutionStatus.QUEUED, i.userId(), i.priority(), position,
                i.queuedAt(), null);
    }

    /** How many wait: one user's, or (null) all. */
    public int depth(String userIdOrNull) {
        lock.lock();
        try {
            return userIdOrNull == null ? order.size() : order.size(userIdOrNull);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Takes a waiting execution out: it never runs; its record says {@code cancelled}. The record is written
     * before the item leaves the store, so a crash in between still finds it cancelled.
     */
    public CancelOutcome cancel(String executionId) {
        lock.lock();
        try {
            Optional<QueuedItem> item = order.remove(executionId);
            if (item.isEmpty()) {
                return CancelOutcome.NOT_QUEUED;
            }
            Instant now = clock.instant();
            try {
                ExecutionRequest request = store.request(executionId).map(QueuedRequests::read).orElse(null);
                records.recordEnd(notRun(item.get(), request, ExecutionStatus.CANCELLED,
                        "cancelled while queued: it never ran", now));
                store.remove(executionId);
                if (request != null) {
                    onEnded.accept(executionId, request);
                }
            } catch (RuntimeException e) {
                order.add(item.get()); // still waiting: the caller is told it failed
                throw e;
            }
            cancelled.incrementAndGet();
            return CancelOutcome.CANCELLED;
        } finally {
            lock.unlock();
        }
    }

    private static ExecutionRecord notRun(QueuedItem item, ExecutionRequest request, ExecutionStatus status,
                                          String reason, Instant now) {
        SecurityLevel level = request != null && request.securityLevel() != null ? request.securityLevel()
                : SecurityLevel.DEFAULT;
        String image = request == null ? null : request.image();
        String runtime = request == null ? null : request.runtime();
        ExecutionRecord record = ExecutionRecord.started(item.executionId(), item.userId(), null, image, runtime,
                level, request == null ? List.of() : request.command(), request == null ? null : request.language(),
                item.queuedAt(), request == null ? null : RequestSummary.of(request));
        return record.ended(ExecutionResult.notRun(item.executionId(), status, reason, runtime, level, image, 0,
                List.of()), now);
    }

    private void kick() {
        lock.lock();
        try {
            kick = true;
            kicked.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private void dispatchLoop() {
        while (true) {
            Admission.Permit[] permit = new Admission.Permit[1];
            QueuedItem item;
            lock.lock();
            try {
                if (closed) {
                    return;
                }
                kick = false;
                item = order.next(user -> {
                    Admission.Attempt a = admission.tryAcquire(user);
                    if (a.permit() != null) {
                        permit[0] = a.permit();
                        return FairOrder.Turn.TAKE;
                    }
                    return a.refusal() == Admission.Refusal.USER_LIMIT ? FairOrder.Turn.SKIP : FairOrder.Turn.STOP;
                });
                if (item == null) {
                    if (!kick) {
                        kicked.await(1, TimeUnit.SECONDS); // and tries again anyway: a missed cue costs a second
                    }
                    continue;
                }
                starting.put(item.executionId(), item);
            } catch (InterruptedException e) {
                return;
            } finally {
                lock.unlock();
            }
            dispatch(item, permit[0]);
        }
    }

    private void dispatch(QueuedItem item, Admission.Permit permit) {
        String id = item.executionId();
        try {
            Optional<byte[]> body = store.request(id);
            if (body.isEmpty()) {
                permit.close(); // removed behind our back (another process?): nothing to run
                log.warn("queued execution {} is gone from the store; not run", id);
                return;
            }
            ExecutionRequest request;
            try {
                request = QueuedRequests.read(body.get());
            } catch (IllegalStateException e) {
                permit.close();
                records.recordEnd(notRun(item, null, ExecutionStatus.ERROR, e.getMessage(), clock.instant()));
                store.remove(id);
                return;
            }
            Instant now = clock.instant();
            waitObserver.accept(Duration.between(item.queuedAt(), now));
            started.incrementAndGet();
            CompletableFuture<ExecutionResult> result = starter.start(id, request, permit);
            result.whenComplete((r, e) -> finished(id, r));
        } catch (ExecutionStoreException e) {
            // The store is down: the item waits on (its place kept), and we pause before the next try.
            permit.close();
            log.warn("queued execution {} cannot be read from the store, retried shortly: {}", id, e.getMessage());
            lock.lock();
            try {
                order.add(item);
            } finally {
                lock.unlock();
            }
            sleep(STORE_RETRY);
        } catch (RuntimeException e) {
            permit.close();
            log.error("queued execution {} could not be started", id, e);
            try {
                records.recordEnd(notRun(item, null, ExecutionStatus.ERROR, "could not be started: "
                        + e.getMessage(), clock.instant()));
                store.remove(id);
            } catch (RuntimeException again) {
                log.warn("queued execution {}: its failure could not be recorded: {}", id, again.getMessage());
            }
        } finally {
            lock.lock();
            try {
                starting.remove(id);
            } finally {
                lock.unlock();
            }
        }
    }

    /** Its record exists now: the item can leave the store (a restart would drop it anyway). */
    private void finished(String executionId, ExecutionResult result) {
        if (result != null && result.durationMs() > 0) {
            meanDurationMs = meanDurationMs * 0.9 + result.durationMs() * 0.1;
        }
        try {
            store.remove(executionId);
        } catch (RuntimeException e) {
            log.warn("queued execution {} ended but could not leave the store (a restart drops it): {}",
                    executionId, e.getMessage());
        }
    }

    private QueuedView view(QueuedItem item, int position, Instant now) {
        return new QueuedView(item.executionId(), ExecutionStatus.QUEUED, item.userId(), item.priority(), position,
                item.queuedAt(), estimate(position, now));
    }

    /** Rounds of the slots ahead of this position, each as long as recent queued executions ran. */
    private Instant estimate(int position, Instant now) {
        int slots = Math.max(1, admission.maxConcurrent());
        long rounds = position <= 0 ? 0 : (position + slots - 1) / slots;
        return now.plusMillis((long) (rounds * meanDurationMs));
    }

    private static String userOf(ExecutionRequest request) {
        return request.userId() == null ? "" : request.userId();
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Called with each item that ended here without running (cancelled, or unreadable) once its record is
     * written: its callback is due too. Items that run end through the {@link Starter}.
     */
    public void onEnded(java.util.function.BiConsumer<String, ExecutionRequest> listener) {
        this.onEnded = listener;
    }

    /** Called with each dispatched item's wait (the metrics' histogram). */
    public void onStarted(Consumer<Duration> observer) {
        this.waitObserver = observer;
    }

    public long startedCount() {
        return started.get();
    }

    public long cancelledCount() {
        return cancelled.get();
    }

    /** Submissions refused by {@code limit} (a setting name). */
    public long refusedCount(String limit) {
        AtomicLong n = refused.get(limit);
        return n == null ? 0 : n.get();
    }

    /** Users with items waiting. */
    public int users() {
        lock.lock();
        try {
            return order.users();
        } finally {
            lock.unlock();
        }
    }

    /** The most items one user has waiting (the rest is {@code depth(null) - largestUser()}). */
    public int largestUser() {
        lock.lock();
        try {
            return order.largestUser();
        } finally {
            lock.unlock();
        }
    }

    public String describe() {
        return store.describe();
    }

    public int maxBatch() {
        return settings.maxBatch();
    }

    /** Stops dispatching; what waits stays in the store for the next start. Running executions run on. */
    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            kicked.signalAll();
        } finally {
            lock.unlock();
        }
        if (dispatcher != null) {
            try {
                dispatcher.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        admission.onRelease(() -> { });
        store.close();
    }
}
