package io.mcpsandbox.api;

import io.mcpsandbox.execution.ActiveExecution;
import io.mcpsandbox.execution.Admission;
import io.mcpsandbox.execution.ExecutionListener;
import io.mcpsandbox.execution.ExecutionService;
import io.mcpsandbox.metrics.SandboxMetrics;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.runtime.RuntimeRegistry;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * What MCP and REST both call: admission, then the execution service; ownership, so that a user sees and
 * terminates only their own executions; and the execution metrics.
 */
public final class ExecutionGateway {

    private final ExecutionService executions;
    private final RuntimeRegistry registry;
    private final Admission admission;
    private final SandboxMetrics metrics;

    public ExecutionGateway(ExecutionService executions, RuntimeRegistry registry, Admission admission,
                            SandboxMetrics metrics) {
        this.executions = executions;
        this.registry = registry;
        this.admission = admission;
        this.metrics = metrics;
    }

    /** An admitted, submitted execution: its id at once, its result later. */
    public record Started(String executionId, CompletableFuture<ExecutionResult> result) {
    }

    public enum TerminateOutcome { TERMINATING, ALREADY_FINISHED, NOT_FOUND }

    /**
     * Waits for admission (a queue slot at most), then starts the request. The stage fails with
     * {@link Admission.Rejected} when the server or the user is at its limit.
     */
    public CompletableFuture<Started> start(ExecutionRequest request, ExecutionListener listener) {
        return admission.acquire(request.userId()).thenApply(permit -> {
            ExecutionService.Submission s;
            try {
                s = executions.submit(request, listener);
            } catch (RuntimeException e) {
                permit.close();
                throw e;
            }
            // Callers get the stage that completes after the slot is freed and the result counted, so a
            // client that reads its answer and then /metrics sees its execution there.
            CompletableFuture<ExecutionResult> settled = s.result().whenComplete((result, error) -> {
                permit.close();
                if (result != null) {
                    metrics.recordResult(result);
                }
            });
            return new Started(s.executionId(), settled);
        }).whenComplete((started, error) -> {
            if (error != null
                    && (error instanceof Admission.Rejected || error.getCause() instanceof Admission.Rejected)) {
                metrics.recordRejection("admission");
            }
        });
    }

    /** The final result or a {@code running} placeholder; empty when unknown, forgotten, or someone else's. */
    public Optional<ExecutionResult> find(String userId, String executionId) {
        return owns(userId, executionId) ? executions.find(executionId) : Optional.empty();
    }

    /**
     * The user's execution while it runs here: to follow its output or write to its stdin. Empty when it is
     * not running (any more), or someone else's.
     */
    public Optional<ActiveExecution> running(String userId, String executionId) {
        return executions.active(executionId).filter(a -> userId.equals(a.userId()));
    }

    public List<ActiveExecution> active(String userId) {
        return executions.active().stream().filter(a -> userId.equals(a.userId())).toList();
    }

    public TerminateOutcome terminate(String userId, String executionId) {
        if (!owns(userId, executionId)) {
            return TerminateOutcome.NOT_FOUND;
        }
        // The service lists an execution from its submission on, so a miss means it has ended.
        return executions.terminate(executionId) ? TerminateOutcome.TERMINATING : TerminateOutcome.ALREADY_FINISHED;
    }

    /** The user's stored records, newest first. */
    public List<ExecutionRecord> list(String userId, int limit) {
        return executions.list(userId, limit);
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
        return registry.all().stream().map(registry::info).toList();
    }
}
