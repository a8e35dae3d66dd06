package io.mcpsandbox.execution;

import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.NetworkIO;
import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.ResourceUsage;
import io.mcpsandbox.model.SecurityEvent;
import io.mcpsandbox.model.SecurityEvent.Severity;
import io.mcpsandbox.policy.ExecutionPlan;
import io.mcpsandbox.runtime.PreparedSandbox;
import io.mcpsandbox.runtime.RunningSandbox;
import io.mcpsandbox.runtime.SandboxException;
import io.mcpsandbox.runtime.SandboxExit;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The run of one prepared sandbox: start, output through the output cap, the wait under the deadline (a kill
 * at the deadline or on terminate), how it ended and what it used. Tearing the sandbox down is the caller's.
 */
final class SandboxRunner implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SandboxRunner.class);
    /** How long a killed sandbox may take to die before it is forcibly deleted. */
    private static final Duration KILL_GRACE = Duration.ofSeconds(10);
    private static final Duration KILL_RETRY = Duration.ofMillis(250);

    private final Duration progressInterval;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "execution-progress");
        t.setDaemon(true);
        return t;
    });

    /** @param progressInterval how often a running execution's listener hears of its elapsed time and output */
    SandboxRunner(Duration progressInterval) {
        this.progressInterval = progressInterval;
    }

    /**
     * Runs the sandbox to its end and returns its result, output not yet scanned.
     *
     * @param startNanos when the execution started ({@link System#nanoTime}); the deadline counts from it
     */
    ExecutionResult run(ActiveExecution execution, ExecutionPlan plan, PreparedSandbox prepared,
                        ExecutionListener listener, long startNanos) throws SandboxException {
        String id = execution.executionId();
        if (execution.terminated()) {
            return ExecutionResult.notRun(id, ExecutionStatus.TERMINATED, "terminated before it started",
                    execution.runtime(), plan.securityLevel(), plan.image(), ExecutionService.elapsedMs(startNanos),
                    List.of());
        }
        ResourceLimits limits = plan.limits();
        RunningSandbox running = prepared.start();
        execution.started(running);
        OutputCapture output = new OutputCapture(limits.outputBytes(), running::kill);
        // Platform threads: blocking reads of a FIFO would pin virtual threads' carriers.
        Thread stdout = Thread.ofPlatform().daemon().name("stdout-" + id)
                .start(() -> output.stdout().pump(running.stdout()));
        Thread stderr = Thread.ofPlatform().daemon().name("stderr-" + id)
                .start(() -> output.stderr().pump(running.stderr()));
        ScheduledFuture<?> progress = timer.scheduleAtFixedRate(
                () -> listener.progress(ExecutionService.elapsedMs(startNanos), output.totalBytes()),
                progressInterval.toMillis(), progressInterval.toMillis(), TimeUnit.MILLISECONDS);
        SandboxExit exit;
        try {
            exit = awaitExit(execution, running, prepared, startNanos + limits.timeout().toNanos());
            joinQuietly(stdout, stderr);
        } finally {
            progress.cancel(false);
        }
        long durationMs = ExecutionService.elapsedMs(startNanos);

        ExitClassification end = ExitClassification.of(exit, execution.terminated(), execution.timedOut(),
                output.limitHit(), limits);
        ResourceUsage usage = ResourceUsage.of(exit.cpuMillis(), durationMs, exit.peakMemoryBytes(), NetworkIO.NONE);
        return ExecutionResult.running(id, execution.runtime(), plan.securityLevel(), plan.image(), durationMs)
                .withStatus(end.status(), end.exitCode(), end.reason())
                .withOutput(output.stdout().text(), running.withoutRuntimeNoise(output.stderr().text()),
                        output.stdout().truncated(), output.stderr().truncated())
                .withResourceUsage(usage)
                .withSecurityEvents(events(end, exit, limits));
    }

    /** The limits the run ran into: the deadline and the output cap (its status), the OOM killer, the pids cap. */
    private static List<SecurityEvent> events(ExitClassification end, SandboxExit exit, ResourceLimits limits) {
        List<SecurityEvent> events = new ArrayList<>();
        if (end.status() == ExecutionStatus.TIMEOUT) {
            events.add(SecurityEvent.now("sandbox.timeout", Severity.MEDIUM, end.reason(),
                    Map.of("timeoutMs", limits.timeout().toMillis())));
        } else if (end.status() == ExecutionStatus.OUTPUT_LIMIT) {
            events.add(SecurityEvent.now("sandbox.output_limit", Severity.LOW, end.reason(),
                    Map.of("outputBytes", limits.outputBytes())));
        }
        if (exit.oomKilled()) {
            events.add(SecurityEvent.now("sandbox.oom_kill", Severity.MEDIUM,
                    "the kernel killed a process at the memory limit", Map.of("memoryBytes", limits.memoryBytes())));
        }
        if (exit.pidsLimitHit()) {
            events.add(SecurityEvent.now("sandbox.pids_limit", Severity.MEDIUM,
                    "process creation was refused at the pids limit", Map.of("pids", limits.pids())));
        }
        return events;
    }

    /**
     * Waits for the program's end. At the deadline, or on terminate, it is killed, and the kill is repeated
     * until the program is gone: a kill can miss a container that is still being created.
     */
    private static SandboxExit awaitExit(ActiveExecution execution, RunningSandbox running, PreparedSandbox prepared,
                                         long deadlineNanos) throws SandboxException {
        String id = execution.executionId();
        // A platform thread: before JDK 24, Process.waitFor's monitor wait pins a virtual thread's carrier.
        CompletableFuture<SandboxExit> exit = CompletableFuture.supplyAsync(() -> {
            try {
                return running.awaitExit();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return SandboxExit.failed("interrupted while waiting for the sandbox");
            }
        }, task -> Thread.ofPlatform().daemon().name("await-" + id).start(ExecutionService.withId(id, task)));
        long killSince = 0;
        try {
            while (true) {
                long slice = execution.killRequested() ? KILL_RETRY.toNanos()
                        : Math.max(0, Math.min(deadlineNanos - System.nanoTime(), KILL_RETRY.toNanos()));
                try {
                    return exit.get(slice, TimeUnit.NANOSECONDS);
                } catch (TimeoutException stillRunning) {
                    if (!execution.killRequested() && System.nanoTime() >= deadlineNanos) {
                        execution.timeOut();
                    }
                    if (execution.killRequested()) {
                        killSince = killSince == 0 ? System.nanoTime() : killSince;
                        if (System.nanoTime() - killSince > KILL_GRACE.toNanos()) {
                            prepared.close();
                            return exit.get(5, TimeUnit.SECONDS);
                        }
                        running.kill();
                    }
                }
            }
        } catch (TimeoutException e) {
            throw new SandboxException("the sandbox did not stop after being killed; it was force-deleted");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            running.kill();
            throw new SandboxException("interrupted while waiting for the sandbox");
        } catch (ExecutionException e) {
            throw new SandboxException("waiting for the sandbox failed: " + e.getCause(), e.getCause());
        }
    }

    private static void joinQuietly(Thread... threads) {
        for (Thread t : threads) {
            try {
                // Every writer is dead once the sandbox's pid namespace is gone; this only bounds a surprise.
                if (!t.join(Duration.ofSeconds(5))) {
                    log.warn("output pump {} still running after the sandbox ended", t);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
