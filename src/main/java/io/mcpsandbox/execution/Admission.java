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
    private volatile UserSlots shared;
    /** {@link #takeShared}'s answer at the shared limit (a slot that holds nothing). */
    private static final UserSlots.Slot REFUSED = () -> { };
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

    /**
     * A user's executions counted beyond this process (cluster mode): {@code admission.max-per-user} then holds
     * for the user across every node. A slot is taken for each running or waiting execution, before it runs.
     */
    public interface UserSlots {
        /** One of the user's slots, or null when the user holds {@code max} of them already (everywhere). */
        Slot take(String userId, int max);

        /** What the refused caller is told: where the limit is counted. */
        String where();

        /** A held slot; releasing it more than once is harmless. */
        interface Slot {
            void release();
        }
    }

    /** From now on the per-user limit also counts the user's executions in {@code slots} (other nodes'). */
    public void shareUserLimit(UserSlots slots) {
        this.shared = slots;
    }

    /** A slot held by one execution. Closing it more than once is harmless. */
    public final class Permit implements AutoCloseable {
        private final String userId;
        private final UserSlots.Slot slot;
        private final AtomicBoolean released = new AtomicBoolean();

        private Permit(String userId, UserSlots.Slot slot) {
            this.userId = userId;
            this.slot = slot;
        }

        @Override
        public void close() {
            if (released.compareAndSet(false, true)) {
                releaseShared(slot);
                release(userId);
            }
        }
    }

    private record Waiter(String userId, UserSlots.Slot slot, CompletableFuture<Permit> future) {
    }

    /** The user's slot beyond this process: null when nothing is shared; {@link #REFUSED} at the limit. */
    private UserSlots.Slot takeShared(String user) {
        UserSlots s = shared;
        if (s == null) {
            return null;
        }
        UserSlots.Slot slot = s.take(user, maxPerUser);
        return slot == null ? REFUSED : slot;
    }

    private static void releaseShared(UserSlots.Slot slot) {
        if (slot != null) {
            slot.release();
        }
    }

    private Rejected userLimit(String user, int mine) {
        return new Rejected("too many executions for user '" + user + "': " + mine + " running or queued (limit "
                + maxPerUser + ", admission.max-per-user)", RETRY_AFTER);
    }

    private Rejected sharedUserLimit(String user) {
        return new Rejected("too many executions for user '" + user + "' " + shared.where() + " (limit "
                + maxPerUser + ", admission.max-per-user)", RETRY_AFTER);
    }

    /**
     * A permit now, or once a slot frees; or a future failed with {@link Rejected}. Cancelling the
     * future while it waits gives up its place in the queue.
     */
    public CompletableFuture<Permit> acquire(String userId) {
        String user = userId == null ? "" : userId;
        lock.lock();
        try {
            int mine = perUser.getOrDefault(user, 0);
            if (mine >= maxPerUser) {
                return CompletableFuture.failedFuture(userLimit(user, mine));
            }
        } finally {
            lock.unlock();
        }
        // Outside the lock: it may be a network round trip.
        UserSlots.Slot slot = takeShared(user);
        if (slot == REFUSED) {
            return CompletableFuture.failedFuture(sharedUserLimit(user));
        }
        Waiter waiter;
        lock.lock();
        try {
            int mine = perUser.getOrDefault(user, 0);
            if (mine >= maxPerUser) {
                releaseShared(slot);
                return CompletableFuture.failedFuture(userLimit(user, mine));
            }
            if (running < maxConcurrent) {
                running++;
                perUser.merge(user, 1, Integer::sum);
                return CompletableFuture.completedFuture(new Permit(user, slot));
            }
            if (queue.size() >= queueSize) {
                releaseShared(slot);
                return CompletableFuture.failedFuture(new Rejected("server busy: " + running
                        + " executions running (admission.max-concurrent) and " + queue.size()
                        + " queued (admission.queue-size)", RETRY_AFTER));
            }
            perUser.merge(user, 1, Integer::sum);
            waiter = new Waiter(user, slot, new CompletableFuture<>());
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
        Refusal now = localRefusal(user);
        if (now != null) {
            return new Attempt(null, now);
        }
        // Outside the lock: it may be a network round trip.
        UserSlots.Slot slot = takeShared(user);
        if (slot == REFUSED) {
            return new Attempt(null, Refusal.USER_LIMIT);
        }
        lock.lock();
        try {
            now = localRefusalLocked(user);
            if (now != null) {
                releaseShared(slot);
                return new Attempt(null, now);
            }
            running++;
            perUser.merge(user, 1, Integer::sum);
            return new Attempt(new Permit(user, slot), null);
        } finally {
            lock.unlock();
        }
    }

    private Refusal localRefusal(String user) {
        lock.lock();
        try {
            return localRefusalLocked(user);
        } finally {
            lock.unlock();
        }
    }

    private Refusal localRefusalLocked(String user) {
        if (running >= maxConcurrent || !queue.isEmpty()) {
            return Refusal.NO_SLOT;
        }
        return perUser.getOrDefault(user, 0) >= maxPerUser ? Refusal.USER_LIMIT : null;
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
        if (removed) {
            releaseShared(waiter.slot());
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
            Permit permit = new Permit(next.userId(), next.slot());
            if (next.future().complete(permit)) {
                return;
            }
            // the waiter was cancelled between poll and complete: hand the slot on
            permit.released.set(true);
            releaseShared(next.slot());
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
