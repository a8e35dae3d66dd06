package io.mcpsandbox.api;

import io.mcpsandbox.callback.CallbackPolicy;
import io.mcpsandbox.callback.CallbackRefused;
import io.mcpsandbox.callback.CallbackSender;
import io.mcpsandbox.execution.ActiveExecution;
import io.mcpsandbox.execution.Admission;
import io.mcpsandbox.execution.ExecutionListener;
import io.mcpsandbox.execution.ExecutionService;
import io.mcpsandbox.metrics.SandboxMetrics;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.queue.ExecutionQueue;
import io.mcpsandbox.queue.QueueFullException;
import io.mcpsandbox.queue.QueuedView;
import io.mcpsandbox.runtime.RuntimeRegistry;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * What MCP and REST both call: admission, then the execution service; the durable queue for async work (when
 * this process serves one); ownership, so that a user sees and terminates only their own executions; and the
 * execution metrics.
 */
public final class ExecutionGateway {

    private final ExecutionService executions;
    private final RuntimeRegistry registry;
    private final Admission admission;
    private final SandboxMetrics metrics;
    private final boolean networkAvailable;
    private volatile ExecutionQueue queue;
    private volatile CallbackSender sender;
    /** How long a cancel waits for another node to record it (it then answers that the execution is ending). */
    private static final Duration REMOTE_CANCEL_WAIT = Duration.ofSeconds(3);
    private static final CallbackCheck NO_CALLBACKS = url -> {
        throw new InvalidRequestException("callbackUrl", "callbacks are not served here: they need "
                + "callbacks.allowed-hosts and the process that serves the queue (docs/callbacks.md)");
    };
    private volatile CallbackCheck callbacks = NO_CALLBACKS;
    /** False while this node drains (cluster mode): new executions outside sessions are refused (503). */
    private volatile BooleanSupplier acceptingNewWork = () -> true;
    private volatile Supplier<String> notAcceptingWhy = () -> "not accepting new work";
    /** Cluster mode: where a request goes when every local slot is taken (docs/cluster.md, Work distribution). */
    private volatile Spill spill;
    private volatile RunTracker tracker = RunTracker.NONE;

    /**
     * Offers a request that finds no free local slot to another node of the cluster. Empty: it stays here (no
     * node has room, it cannot be spilled, Redis is down); otherwise the {@link Spilled} it became.
     */
    public interface Spill {
        Optional<Spilled> offer(ExecutionRequest request);

        /**
         * Asks the node running a spilled execution (or whose queue holds a waiting one) to end it; false when none
         * is known to.
         */
        default boolean terminateElsewhere(String executionId) {
            return false;
        }

        /** An execution waiting in another node's durable queue, as that queue would run it; empty if none. */
        default Optional<QueuedView> queuedElsewhere(String executionId) {
            return Optional.empty();
        }
    }

    /**
     * A request spilled under {@code executionId}: {@code started} completes true when a node started it, false
     * when none did in time and it was withdrawn (it then waits for a slot here, as without cluster mode).
     */
    public record Spilled(String executionId, CompletableFuture<Boolean> started,
                          CompletableFuture<ExecutionResult> result) {
    }

    /** Hears about every execution this process starts and ends (cluster mode keeps a node's running set). */
    public interface RunTracker {
        RunTracker NONE = new RunTracker() {
            @Override
            public void started(String executionId) {
            }

            @Override
            public void ended(String executionId) {
            }
        };

        void started(String executionId);

        void ended(String executionId);
    }

    /** Decides at submission whether a callback URL would be called. */
    @FunctionalInterface
    public interface CallbackCheck {
        void check(String url) throws InvalidRequestException;
    }

    /** @param networkAvailable whether requests may ask for network here ({@code network.enabled}) */
    public ExecutionGateway(ExecutionService executions, RuntimeRegistry registry, Admission admission,
                            SandboxMetrics metrics, boolean networkAvailable) {
        this.networkAvailable = networkAvailable;
        this.executions = executions;
        this.registry = registry;
        this.admission = admission;
        this.metrics = metrics;
    }

    /** An admitted, submitted execution: its id at once, its result later. */
    public record Started(String executionId, CompletableFuture<ExecutionResult> result) {
    }

    public enum TerminateOutcome { TERMINATING, CANCELLED, ALREADY_FINISHED, NOT_FOUND }

    /**
     * From now on a request may name a {@code callbackUrl} that {@code policy} accepts, and its result is sent
     * there when it ends; {@code (null, null)} stops that again.
     */
    public void serveCallbacks(CallbackPolicy policy, CallbackSender sender) {
        this.sender = sender;
        if (policy == null) {
            this.callbacks = NO_CALLBACKS;
            return;
        }
        this.callbacks = url -> {
            try {
                policy.check(url);
            } catch (CallbackRefused e) {
                throw new InvalidRequestException("callbackUrl", e.getMessage());
            }
        };
    }

    /** Sends an ended execution's stored result to its callback URL, if it named one. */
    public void callBack(String executionId, ExecutionRequest request) {
        CallbackSender s = sender;
        if (s != null && request.callbackUrl() != null) {
            s.deliver(executionId, java.net.URI.create(request.callbackUrl()));
        }
    }

    /** From now on async requests outside sessions wait in this queue (see {@link #queues}). */
    public void serveQueue(ExecutionQueue executionQueue) {
        this.queue = executionQueue;
    }

    /**
     * Whether this async request goes to the durable queue: there is one here, it is not a session's, and new
     * work is accepted (otherwise {@link #start} refuses it).
     */
    public boolean queues(ExecutionRequest request) {
        return queue != null && request.sessionId() == null && newWorkRefusal().isEmpty();
    }

    /**
     * From now on new executions outside sessions (run, queued or batched) are refused while {@code accepting}
     * says false, with {@code why} as the reason (a draining cluster node). What runs, what waits in the queue
     * already, and executions in open sessions go on.
     */
    public void acceptNewWorkWhile(BooleanSupplier accepting, Supplier<String> why) {
        this.notAcceptingWhy = why;
        this.acceptingNewWork = accepting;
    }

    /** Why a new execution outside a session is refused now; empty when it is accepted. */
    public Optional<String> newWorkRefusal() {
        return acceptingNewWork.getAsBoolean() ? Optional.empty() : Optional.of(notAcceptingWhy.get());
    }

    /**
     * Cluster mode: a sync request outside a session that finds every local slot taken may go to another node
     * through {@code spill}, and every execution started here is told to {@code tracker}. Null, null: off.
     */
    public void serveCluster(Spill spillTo, RunTracker runTracker) {
        this.spill = spillTo;
        this.tracker = runTracker == null ? RunTracker.NONE : runTracker;
    }

    /** Whether this process serves a durable queue (it holds the data directory's queue lock). */
    public boolean servesQueue() {
        return queue != null;
    }

    /**
     * What the run would refuse from the request alone (an unknown language, a limit over its maximum), before it
     * is queued; plus the callback URL.
     */
    public void precheck(ExecutionRequest request) throws InvalidRequestException {
        try {
            executions.precheck(request);
        } catch (io.mcpsandbox.policy.PolicyViolation e) {
            String prefix = e.field() + ": "; // its message names the field already
            String message = e.field() != null && e.getMessage().startsWith(prefix)
                    ? e.getMessage().substring(prefix.length()) : e.getMessage();
            throw new InvalidRequestException(e.field(), message);
        }
        checkCallback(request);
    }

    /** Most requests one batch may hold ({@code queue.max-batch}). */
    public int maxBatch() {
        return requireQueue().maxBatch();
    }

    /**
     * Refuses a request whose {@code callbackUrl} the server would not call (not on the allowlist, or an address
     * that is never called): at submission, before anything is queued or run.
     */
    public void checkCallback(ExecutionRequest request) throws InvalidRequestException {
        if (request.callbackUrl() != null) {
            callbacks.check(request.callbackUrl());
        }
    }

    /**
     * Writes an async request to the durable queue; it starts when its turn comes and a slot is free.
     *
     * @throws QueueFullException when a queue limit is reached
     * @throws io.mcpsandbox.record.ExecutionStoreException when the queue cannot be written (not accepted)
     */
    public ExecutionQueue.Accepted enqueue(ExecutionRequest request) throws QueueFullException {
        return requireQueue().enqueue(request);
    }

    /** Queues each request that fits, in one write; the outcome of each, in order. */
    public List<ExecutionQueue.Outcome> enqueueAll(List<ExecutionRequest> requests) {
        return requireQueue().enqueueAll(requests);
    }

    private ExecutionQueue requireQueue() {
        ExecutionQueue q = queue;
        if (q == null) {
            throw new IllegalStateException("no queue is served here");
        }
        return q;
    }

    /** The user's execution while it waits in the queue; empty when it does not (any more), or is someone else's. */
    public Optional<QueuedView> queued(String userId, String executionId) {
        return queued(userId, false, executionId);
    }

    /** As {@link #queued(String, String)}; an {@code admin} sees anyone's. */
    public Optional<QueuedView> queued(String userId, boolean admin, String executionId) {
        ExecutionQueue q = queue;
        Optional<QueuedView> here = q == null ? Optional.empty() : q.find(executionId);
        if (here.isEmpty()) {
            // Cluster mode: accepted by another node, it waits in that node's queue (no record until it starts).
            Spill to = spill;
            here = to == null ? Optional.empty() : to.queuedElsewhere(executionId);
        }
        return here.filter(v -> admin || userId.equals(v.userId()));
    }

    /** Waiting executions in run order: the user's, or everyone's for {@code all} (an admin). */
    public List<QueuedView> queue(String userId, boolean all, int limit) {
        ExecutionQueue q = queue;
        return q == null ? List.of() : q.list(all ? null : userId, limit);
    }

    /** How many wait: the user's, or everyone's for {@code all}. */
    public int queueDepth(String userId, boolean all) {
        ExecutionQueue q = queue;
        return q == null ? 0 : q.depth(all ? null : userId);
    }

    /** Starts a request that holds its permit already: the queue's dispatcher does, when its turn comes. */
    public CompletableFuture<ExecutionResult> startAdmitted(String executionId, ExecutionRequest request,
                                                            Admission.Permit permit) {
        return startAdmitted(executionId, request, ExecutionListener.NONE, permit);
    }

    private CompletableFuture<ExecutionResult> startAdmitted(String executionId, ExecutionRequest request,
                                                             ExecutionListener listener, Admission.Permit permit) {
        ExecutionService.Submission s;
        try {
            s = executions.submit(executionId, request, listener);
        } catch (RuntimeException e) {
            permit.close();
            throw e;
        }
        tracker.started(executionId);
        return settle(executionId, request, s.result(), permit);
    }

    /**
     * The stage that completes after the slot is freed and the result counted, so a client that reads its
     * answer and then /metrics sees its execution there.
     */
    private CompletableFuture<ExecutionResult> settle(String executionId, ExecutionRequest request,
                                                      CompletableFuture<ExecutionResult> result,
                                                      Admission.Permit permit) {
        return result.whenComplete((r, error) -> {
            permit.close();
            tracker.ended(executionId);
            if (r != null) {
                metrics.recordResult(r);
                callBack(executionId, request); // its record is written: the body is read from it
            }
        });
    }

    /**
     * Waits for admission (a queue slot at most), then starts the request. The stage fails with
     * {@link Admission.Rejected} when the server or the user is at its limit.
     */
    public CompletableFuture<Started> start(ExecutionRequest request, ExecutionListener listener) {
        return start(request, listener, true);
    }

    /**
     * As {@link #start(ExecutionRequest, ExecutionListener)}, never spilled to another node: for a caller that
     * follows the execution's output here as it runs (a REST stream).
     */
    public CompletableFuture<Started> startHere(ExecutionRequest request, ExecutionListener listener) {
        return start(request, listener, false);
    }

    private CompletableFuture<Started> start(ExecutionRequest request, ExecutionListener listener,
                                             boolean mayMove) {
        Optional<String> refusal = request.sessionId() == null ? newWorkRefusal() : Optional.empty();
        if (refusal.isPresent()) {
            metrics.recordRejection("draining");
            return CompletableFuture.failedFuture(Admission.Rejected.unavailable(refusal.get()));
        }
        Spill to = spill;
        // Spilled: a plain sync or async request outside a session. One whose listener wants live progress, or
        // whose stdin stays open, stays here: only this node could relay them.
        if (to != null && mayMove && request.sessionId() == null && listener == ExecutionListener.NONE
                && !request.keepStdinOpen()) {
            Admission.Attempt now = admission.tryAcquire(request.userId());
            if (now.permit() != null) {
                return CompletableFuture.completedFuture(startNow(UUID.randomUUID().toString(), request, listener,
                        now.permit()));
            }
            if (now.refusal() == Admission.Refusal.NO_SLOT) { // a user at its limit is not spilled past it
                Optional<Spilled> spilled = to.offer(request);
                if (spilled.isPresent()) {
                    Spilled s = spilled.get();
                    return s.started().thenCompose(ran -> ran
                            ? CompletableFuture.completedFuture(new Started(s.executionId(), s.result()))
                            : admitted(s.executionId(), request, listener));
                }
            }
        }
        return admitted(UUID.randomUUID().toString(), request, listener);
    }

    /** Waits for admission here, then starts the request under {@code executionId}. */
    private CompletableFuture<Started> admitted(String executionId, ExecutionRequest request,
                                                ExecutionListener listener) {
        return admission.acquire(request.userId())
                .thenApply(permit -> startNow(executionId, request, listener, permit))
                .whenComplete((started, error) -> {
                    if (error instanceof Admission.Rejected
                            || error != null && error.getCause() instanceof Admission.Rejected) {
                        metrics.recordRejection("admission");
                    }
                });
    }

    private Started startNow(String executionId, ExecutionRequest request, ExecutionListener listener,
                             Admission.Permit permit) {
        return new Started(executionId, startAdmitted(executionId, request, listener, permit));
    }

    /** The final result or a {@code running} placeholder; empty when unknown, forgotten, or someone else's. */
    public Optional<ExecutionResult> find(String userId, String executionId) {
        return find(userId, false, executionId);
    }

    /** As {@link #find(String, String)}; an {@code admin} sees anyone's. */
    public Optional<ExecutionResult> find(String userId, boolean admin, String executionId) {
        return admin || owns(userId, executionId) ? executions.find(executionId) : Optional.empty();
    }

    /**
     * The stored record (without its result) of the user's execution, or anyone's for an {@code admin}: who ran
     * it, in which session, the command or language, when. Empty when unknown or someone else's.
     */
    public Optional<ExecutionRecord> record(String userId, boolean admin, String executionId) {
        return executions.findRecord(executionId).filter(r -> admin || userId.equals(r.userId()))
                .map(ExecutionRecord::withoutResult);
    }

    /**
     * The user's execution while it runs here: to follow its output or write to its stdin. Empty when it is
     * not running (any more), or someone else's.
     */
    public Optional<ActiveExecution> running(String userId, String executionId) {
        return running(userId, false, executionId);
    }

    /**
     * As {@link #running(String, String)}; an {@code admin} gets anyone's, to follow it (its stdin stays the
     * owner's: the caller checks that).
     */
    public Optional<ActiveExecution> running(String userId, boolean admin, String executionId) {
        return executions.active(executionId).filter(a -> admin || userId.equals(a.userId()));
    }

    public List<ActiveExecution> active(String userId) {
        return executions.active().stream().filter(a -> userId.equals(a.userId())).toList();
    }

    /** Every user's running executions (an admin's view), or one user's for a non-null {@code userIdOrNull}. */
    public List<ActiveExecution> activeOf(String userIdOrNull) {
        return userIdOrNull != null ? active(userIdOrNull) : executions.active();
    }

    /** Cancels the user's queued execution, or kills the running one. */
    public TerminateOutcome terminate(String userId, String executionId) {
        return terminate(userId, false, executionId);
    }

    /** As {@link #terminate(String, String)}; an {@code admin} may end anyone's. */
    public TerminateOutcome terminate(String userId, boolean admin, String executionId) {
        ExecutionQueue q = queue;
        if (queued(userId, admin, executionId).isPresent()) {
            if (q != null && q.cancel(executionId) == ExecutionQueue.CancelOutcome.CANCELLED) {
                return TerminateOutcome.CANCELLED;
            }
            Spill to = spill;
            if (to != null && to.terminateElsewhere(executionId)) {
                return cancelledElsewhere(executionId);
            }
        }
        if (admin ? !known(executionId) : !owns(userId, executionId)) {
            return TerminateOutcome.NOT_FOUND;
        }
        // The service lists an execution from its submission on, so a miss means it has ended.
        if (executions.terminate(executionId)) {
            return TerminateOutcome.TERMINATING;
        }
        // Cluster mode: it may run on another node (spilled there): that node is asked to end it.
        Spill to = spill;
        return to != null && to.terminateElsewhere(executionId) ? TerminateOutcome.TERMINATING
                : TerminateOutcome.ALREADY_FINISHED;
    }

    /**
     * Another node was asked to cancel an execution waiting in its queue: its record says how that went, written
     * by that node within moments (a second or two at most). Until then, or if it started meanwhile, it is ending.
     */
    private TerminateOutcome cancelledElsewhere(String executionId) {
        long until = System.nanoTime() + REMOTE_CANCEL_WAIT.toNanos();
        do {
            Optional<ExecutionRecord> r = executions.findRecord(executionId);
            if (r.isPresent() && r.get().status() == ExecutionStatus.CANCELLED) {
                return TerminateOutcome.CANCELLED;
            }
            if (r.isPresent()) {
                return TerminateOutcome.TERMINATING; // it had started there: that node ends it
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        } while (System.nanoTime() < until);
        return TerminateOutcome.TERMINATING;
    }

    /**
     * The user's stored records, newest first, each without its result (the store never reads it); every
     * user's for a null {@code userId} (an admin's view).
     */
    public List<ExecutionRecord> listSummaries(String userId, int limit) {
        return executions.listSummaries(userId, limit);
    }

    /** Whether the execution runs here or has a record: anyone's (what an admin may act on). */
    private boolean known(String executionId) {
        return executions.active(executionId).isPresent() || executions.findRecord(executionId).isPresent();
    }

    /**
     * Whether {@code userId} started the execution: from the running execution, else from its stored record,
     * so ownership outlives this process. Another user's execution looks like no execution.
     */
    private boolean owns(String userId, String executionId) {
        Optional<ActiveExecution> running = executions.active(executionId);
        if (running.isPresent()) {
            return userId.equals(running.get().userId());
        }
        return executions.findRecord(executionId).map(r -> userId.equals(r.userId())).orElse(false);
    }

    /** Every runtime with what is known about it here (probed at startup). */
    public List<RuntimeInfo> runtimes() {
        return registry.all().stream().map(r -> registry.info(r).withNetwork(networkAvailable)).toList();
    }
}
