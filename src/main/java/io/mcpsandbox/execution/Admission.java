package io.mcpsandbox.execution;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Admission control in front of the execution service: at most {@code maxConcurrent} executions run at once,
 * one user holds at most {@code maxPerUser} of them (running or queued), and at most {@code queueSize} wait,
 * each for at most {@code queueTimeout}. Whatever is beyond is refused at once with a retry hint, so an
 * overloaded server answers quickly instead of piling up sandboxes.
 *
 * <p>Waiting is a future, not a blocked thread: MCP and async REST callers wait without holding one.
 */
public final class Admission implements AutoCloseable {
    /** What a refused caller is told to wait before trying again. */
    public static final Duration RETRY_AFTER = Duration.ofSeconds(2);

    private final int maxConcurrent;
    private final int maxPerUser;
    private final int queueSize;
    private final Duration queueTimeout;
    private final ReentrantLock lock = new ReentrantLock();
    private final ArrayDeque<Waiter> queue = new ArrayDeque<>();
    private final Map<String, Integer> perUser = new HashMap<>();
    private int running;
    private volatile Runnable onRelease = () -> { };
    private final ScheduledExecutorService timeouts = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "admission-timeouts");
        t.setDaemon(true);
        return t;
    });

    public Admission(int maxConcurrent, int maxPerUser, int queueSize, Duration queueTimeout) {
        this.maxConcurrent = maxConcurrent;
        this.maxPerUser = maxPerUser;
        this.queueSize = queueSize;
        this.queueTimeout = queueTimeout;
    }

    /** Refused: too much running already. The message says which limit; {@link #retryAfter()} when to retry. */
    public static final class Rejected extends Exception {
        private final Duration retryAfter;
        private final boolean unavailable;

        Rejected(String message, Duration retryAfter) {
            this(message, retryAfter, false);
        }

        private Rejected(String message, Duration retryAfter, boolean unavailable) {
            super(message, null, false, false);
            this.retryAfter = retryAfter;
            this.unavailable = unavailable;
        }

        /** Refused because this server takes no new work at all now (a draining cluster node): 503, not 429. */
        public static Rejected unavailable(String message) {
            return new Rejected(message, RETRY_AFTER, true);
        }

        public Duration retryAfter() {
            return retryAfter;
        }

        /** True: the server takes no new work now (see {@link #unavailable(String)}); false: it is busy. */
        public boolean unavailable() {
            return unavailable;
        }
    }

    /** A slot held by one execution. Closing it more than once is harmless. */
    public final class Permit implements AutoCloseable {
        private final String userId;
        private final AtomicBoolean released = new AtomicBoolean();

        private Permit(String userId) {
            this.userId = userId;
        }

        @Override
        public void close() {
            if (released.compareAndSet(false, true)) {
                release(userId);
            }
        }
    }

    private record Waiter(String userId, CompletableFuture<Permit> future) {
    }

    /**
     * A permit now, or once a slot frees; or a future failed with {@link Rejected}. Cancelling the
     * future while it waits gives up its place in the queue.
     */
    public CompletableFuture<Permit> acquire(String userId) {
        String user = userId == null ? "" : userId;
        Waiter waiter;
        lock.lock();
        try {
            int mine = perUser.getOrDefault(user, 0);
            if (mine >= maxPerUser) {
                return CompletableFuture.failedFuture(new Rejected("too many executions for user '" + user + "': "
                        + mine + " running or queued (limit " + maxPerUser + ", admission.max-per-user)", RETRY_AFTER));
            }
            if (running < maxConcurrent) {
                running++;
                perUser.merge(user, 1, Integer::sum);
                return CompletableFuture.completedFuture(new Permit(user));
            }
            if (queue.size() >= queueSize) {
                return CompletableFuture.failedFuture(new Rejected("server busy: " + running
                        + " executions running (admission.max-concurrent) and " + queue.size()
                        + " queued (admission.queue-size)", RETRY_AFTER));
            }
            perUser.merge(user, 1, Integer::sum);
            waiter = new Waiter(user, new CompletableFuture<>());
            queue.addLast(waiter);
        } finally {
            lock.unlock();
        }
        timeouts.schedule(() -> giveUp(waiter, new Rejected("server busy: waited " + queueTimeout.toMillis()
                + " ms in the queue for a free slot (admission.queue-timeout)", RETRY_AFTER)),
                queueTimeout.toMillis(), TimeUnit.MILLISECONDS);
        waiter.future().whenComplete((p, e) -> {
            if (waiter.future().isCancelled()) {
                giveUp(waiter, null);
            }
        });
        return waiter.future();
    }

    /** Why {@link #tryAcquire} gave no permit. */
    public enum Refusal {
        /** Every slot is taken (or callers are waiting for one): nobody starts now. */
        NO_SLOT,
        /** This user holds {@code maxPerUser} already; another user may start. */
        USER_LIMIT
    }

    /** A permit now, or the reason there is none: for the durable queue, which waits in its own store. */
    public record Attempt(Permit permit, Refusal refusal) {
    }

    /**
     * A permit at once if a slot is free, nobody waits in this admission's own queue (interactive callers go
     * first) and the user is under its limit; never waits.
     */
    public Attempt tryAcquire(String userId) {
        String user = userId == null ? "" : userId;
        lock.lock();
        try {
            if (running >= maxConcurrent || !queue.isEmpty()) {
                return new Attempt(null, Refusal.NO_SLOT);
            }
            if (perUser.getOrDefault(user, 0) >= maxPerUser) {
                return new Attempt(null, Refusal.USER_LIMIT);
            }
            running++;
            perUser.merge(user, 1, Integer::sum);
            return new Attempt(new Permit(user), null);
        } finally {
            lock.unlock();
        }
    }

    /** Runs after every release of a permit (outside the lock): the durable queue's cue to try again. */
    public void onRelease(Runnable listener) {
        this.onRelease = listener;
    }

    public int maxConcurrent() {
        return maxConcurrent;
    }

    /** Removes a waiter still in the queue; a waiter already granted keeps its permit. */
    private void giveUp(Waiter waiter, Rejected why) {
        boolean removed;
        lock.lock();
        try {
            removed = queue.remove(waiter);
            if (removed) {
                decrement(waiter.userId());
            }
        } finally {
            lock.unlock();
        }
        if (removed && why != null) {
            waiter.future().completeExceptionally(why);
        }
        if (removed) {
            onRelease.run(); // one caller fewer ahead of the durable queue
        }
    }

    private void release(String user) {
        handOn(user);
        onRelease.run();
    }

    private void handOn(String user) {
        while (true) {
            Waiter next;
            lock.lock();
            try {
                decrement(user);
                next = queue.pollFirst();
                if (next == null) {
                    running--;
                    return;
                }
                // the slot passes to the next waiter: running stays the same
            } finally {
                lock.unlock();
            }
            Permit permit = new Permit(next.userId());
            if (next.future().complete(permit)) {
                return;
            }
            // the waiter was cancelled between poll and complete: hand the slot on
            permit.released.set(true);
            user = next.userId();
        }
    }

    private void decrement(String user) {
        perUser.computeIfPresent(user, (k, n) -> n <= 1 ? null : n - 1);
    }

    public int running() {
        lock.lock();
        try {
            return running;
        } finally {
            lock.unlock();
        }
    }

    public int queued() {
        lock.lock();
        try {
            return queue.size();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void close() {
        timeouts.shutdownNow();
    }
}
