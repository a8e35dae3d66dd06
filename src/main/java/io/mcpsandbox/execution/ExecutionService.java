package io.mcpsandbox.execution;

import io.mcpsandbox.image.ImageResolver;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.NetworkIO;
import io.mcpsandbox.model.ResourceUsage;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.model.SecurityEvent;
import io.mcpsandbox.model.SecurityEvent.Severity;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.model.DlpMode;
import io.mcpsandbox.policy.CommandPolicy;
import io.mcpsandbox.policy.CommandRule;
import io.mcpsandbox.policy.ExecutionPlan;
import io.mcpsandbox.policy.PolicyViolation;
import io.mcpsandbox.policy.RequestValidator;
import io.mcpsandbox.policy.RuntimeSelector;
import io.mcpsandbox.record.ExecutionStore;
import io.mcpsandbox.scan.ImageVulnerabilityPolicy;
import io.mcpsandbox.scan.OutputScanner;
import io.mcpsandbox.scan.ScanOutcome;
import io.mcpsandbox.runtime.PreparedSandbox;
import io.mcpsandbox.runtime.RunningSandbox;
import io.mcpsandbox.runtime.SandboxException;
import io.mcpsandbox.runtime.SandboxExit;
import io.mcpsandbox.runtime.SandboxRuntime;
import io.mcpsandbox.runtime.SandboxSpec;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * The execution pipeline: policy, runtime choice, image, sandbox run under a deadline and an output cap,
 * usage, result. Teardown runs off the request's path; {@link #awaitTeardowns} waits for it.
 */
public final class ExecutionService implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ExecutionService.class);
    /** How long a killed sandbox may take to die before it is forcibly deleted. */
    private static final Duration KILL_GRACE = Duration.ofSeconds(10);
    private static final Duration KILL_RETRY = Duration.ofMillis(250);
    /** The logging-context key of the execution a log line is about. */
    public static final String MDC_EXECUTION_ID = "executionId";

    private final RequestValidator validator;
    private final RuntimeSelector selector;
    private final ImageResolver images;
    private final ImageVulnerabilityPolicy imageScans;
    private final CommandPolicy commandPolicy;
    private final OutputScanner scanner;
    private final DlpMode defaultDlpMode;
    private final ExecutionStore store;
    private final Duration progressInterval;
    private final Runnable beforeSandbox;
    private final Map<String, ActiveExecution> active = new ConcurrentHashMap<>();
    private final ExecutorService workers = Executors.newVirtualThreadPerTaskExecutor();
    private final ExecutorService teardowns = Executors.newVirtualThreadPerTaskExecutor();
    private final Map<String, CompletableFuture<Void>> pendingTeardowns = new ConcurrentHashMap<>();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "execution-progress");
        t.setDaemon(true);
        return t;
    });

    /**
     * @param commandPolicy  the tripwire rules run on every command and snippet (not the boundary)
     * @param scanner        finds secrets and personal data in the output of every execution
     * @param defaultDlpMode what the scanner does when a request does not say
     * @param imageScans     vulnerability findings of catalog images (events, or a refusal)
     * @param beforeSandbox  runs before each execution's record and sandbox exist (starts the owner watchdog)
     */
    public ExecutionService(RequestValidator validator, CommandPolicy commandPolicy, RuntimeSelector selector,
                            ImageResolver images, ImageVulnerabilityPolicy imageScans, OutputScanner scanner,
                            DlpMode defaultDlpMode, ExecutionStore store, Duration progressInterval,
                            Runnable beforeSandbox) {
        this.beforeSandbox = beforeSandbox;
        this.validator = validator;
        this.commandPolicy = commandPolicy;
        this.selector = selector;
        this.images = images;
        this.imageScans = imageScans;
        this.scanner = scanner;
        this.defaultDlpMode = defaultDlpMode;
        this.store = store;
        this.progressInterval = progressInterval;
    }

    /** Runs a request to its end and returns the result object. Never throws for a request's failure. */
    public ExecutionResult execute(ExecutionRequest request) {
        return execute(request, ExecutionListener.NONE);
    }

    public ExecutionResult execute(ExecutionRequest request, ExecutionListener listener) {
        return run(register(request), request, listener);
    }

    /** Starts a request in the background; the id is known at once (async REST, MCP with progress). */
    public Submission submit(ExecutionRequest request, ExecutionListener listener) {
        ActiveExecution execution = register(request);
        CompletableFuture<ExecutionResult> result = CompletableFuture.supplyAsync(
                () -> run(execution, request, listener), workers);
        return new Submission(execution.executionId(), result);
    }

    public record Submission(String executionId, CompletableFuture<ExecutionResult> result) {
    }

    /**
     * The final result, or a {@code running} placeholder while the execution runs (here or in another
     * process sharing the store). Read from the store, so a result outlives the process that produced it.
     *
     * @throws io.mcpsandbox.record.ExecutionStoreException when the store cannot answer
     */
    public Optional<ExecutionResult> find(String executionId) {
        ActiveExecution a = active.get(executionId);
        if (a != null) {
            return Optional.of(ExecutionResult.running(a.executionId(), a.runtime(), a.securityLevel(), a.image(),
                    Duration.between(a.startedAt(), Instant.now()).toMillis()));
        }
        return store.find(executionId).map(r -> r.result() != null ? r.result()
                : ExecutionResult.running(r.executionId(), r.runtime(), r.securityLevel(), r.image(),
                Duration.between(r.startedAt(), Instant.now()).toMillis()));
    }

    /** The stored record (who ran it, what, when, how it ended). */
    public Optional<ExecutionRecord> findRecord(String executionId) {
        return store.find(executionId);
    }

    /** Stored records, newest first; of one user when {@code userId} is not null. */
    public List<ExecutionRecord> list(String userId, int limit) {
        return store.list(userId, limit);
    }

    public Optional<ActiveExecution> active(String executionId) {
        return Optional.ofNullable(active.get(executionId));
    }

    public List<ActiveExecution> active() {
        return List.copyOf(active.values());
    }

    /** Kills an active execution; its result will say {@code terminated}. False if it is not active. */
    public boolean terminate(String executionId) {
        ActiveExecution a = active.get(executionId);
        if (a == null) {
            return false;
        }
        a.terminate();
        return true;
    }

    /** Lists (and so makes terminable) an execution from its first moment, before policy has looked at it. */
    private ActiveExecution register(ExecutionRequest request) {
        SecurityLevel level = request.securityLevel() != null ? request.securityLevel() : SecurityLevel.DEFAULT;
        ActiveExecution execution = new ActiveExecution(UUID.randomUUID().toString(), request.userId(),
                request.sessionId(), request.runtime(), level, request.image(), Instant.now());
        active.put(execution.executionId(), execution);
        return execution;
    }

    private ExecutionResult run(ActiveExecution execution, ExecutionRequest request, ExecutionListener listener) {
        try (MDC.MDCCloseable ignored = MDC.putCloseable(MDC_EXECUTION_ID, execution.executionId())) {
            return runLogged(execution, request, listener);
        }
    }

    private ExecutionResult runLogged(ActiveExecution execution, ExecutionRequest request, ExecutionListener listener) {
        long t0 = System.nanoTime();
        String id = execution.executionId();
        SecurityLevel level = execution.securityLevel();
        // Until policy has chosen, what the request asked for; rejections are recorded with it.
        ExecutionRecord record = ExecutionRecord.started(id, request.userId(), request.sessionId(), request.image(),
                request.runtime(), level, request.command(), request.language(), execution.startedAt());
        PreparedSandbox prepared = null;
        try {
            ExecutionPlan plan;
            SandboxRuntime runtime;
            RootFilesystem rootfs;
            CommandPolicy.Verdict verdict;
            ImageVulnerabilityPolicy.Verdict imageVerdict;
            try {
                plan = validator.validate(request);
                verdict = commandPolicy.check(plan.command(), request.code());
                if (verdict.rejected()) {
                    CommandRule rule = verdict.rejectedBy().orElseThrow();
                    return remember(record, ExecutionResult.notRun(id, ExecutionStatus.REJECTED,
                            "policy." + rule.name() + ": " + verdict.reason().orElse(rule.name()), request.runtime(),
                            level, request.image(), elapsedMs(t0), verdict.rejectionEvent().stream().toList()));
                }
                runtime = selector.select(plan);
                ImageResolver.Resolved image = images.resolveImage(plan.image());
                rootfs = image.rootfs();
                // The first request for a digest waits for its scan; later ones read the cached report.
                imageVerdict = image.digest().map(d -> imageScans.check(plan.image(), d, image.rootfs().rootDir()))
                        .orElse(ImageVulnerabilityPolicy.Verdict.NONE);
                if (imageVerdict.refusal().isPresent()) {
                    return remember(record, ExecutionResult.notRun(id, ExecutionStatus.REJECTED,
                            imageVerdict.refusal().get(), request.runtime(), level, request.image(), elapsedMs(t0),
                            imageVerdict.events()));
                }
            } catch (PolicyViolation | ImageResolver.UnknownImageException e) {
                return remember(record, ExecutionResult.notRun(id, ExecutionStatus.REJECTED, e.getMessage(),
                        request.runtime(), level, request.image(), elapsedMs(t0), List.of()));
            }
            execution.resolved(runtime.name(), plan.securityLevel(), plan.image());
            record = ExecutionRecord.started(id, request.userId(), request.sessionId(), plan.image(), runtime.name(),
                    plan.securityLevel(), plan.command(), request.language(), execution.startedAt());
            beforeSandbox.run();
            try {
                store.recordStart(record);
            } catch (RuntimeException e) {
                // Nothing runs without a record.
                log.error("execution {} not started: its record could not be written", id, e);
                return ExecutionResult.notRun(id, ExecutionStatus.ERROR, "the execution record could not be written: "
                        + e.getMessage(), runtime.name(), plan.securityLevel(), plan.image(), elapsedMs(t0), List.of());
            }
            log.info("execution started: user={} runtime={} level={} image={}", request.userId(), runtime.name(),
                    plan.securityLevel().wireName(), plan.image());
            SandboxSpec spec = new SandboxSpec(SandboxSpec.nameFor(id), plan.command(), plan.env(), plan.workDir(),
                    rootfs, plan.limits(), false, plan.workspaceFiles(), plan.stdin());
            prepared = runtime.prepare(spec);
            ExecutionResult ran = runPrepared(execution, plan, prepared, listener, t0);
            List<SecurityEvent> before = new ArrayList<>(imageVerdict.events());
            before.addAll(verdict.events());
            return remember(record, scanned(ran, before, request.dlpMode()));
        } catch (SandboxException | IOException | RuntimeException e) {
            log.warn("execution {} on {} failed: {}", id, execution.runtime(), e.getMessage(), e);
            return remember(record, ExecutionResult.notRun(id, ExecutionStatus.ERROR, e.getMessage(),
                    execution.runtime(), execution.securityLevel(), execution.image(), elapsedMs(t0), List.of()));
        } finally {
            active.remove(id);
            if (prepared != null) {
                scheduleTeardown(prepared);
            }
        }
    }

    private ExecutionResult runPrepared(ActiveExecution execution, ExecutionPlan plan, PreparedSandbox prepared,
                                        ExecutionListener listener, long t0) throws SandboxException {
        if (execution.terminated()) {
            return ExecutionResult.notRun(execution.executionId(), ExecutionStatus.TERMINATED,
                    "terminated before it started", execution.runtime(), plan.securityLevel(), plan.image(),
                    elapsedMs(t0), List.of());
        }
        RunningSandbox running = prepared.start();
        execution.started(running);
        OutputCapture output = new OutputCapture(plan.limits().outputBytes(), running::kill);
        // Platform threads: blocking reads of a FIFO would pin virtual threads' carriers.
        Thread stdout = Thread.ofPlatform().daemon().name("stdout-" + execution.executionId())
                .start(() -> output.stdout().pump(running.stdout()));
        Thread stderr = Thread.ofPlatform().daemon().name("stderr-" + execution.executionId())
                .start(() -> output.stderr().pump(running.stderr()));
        ScheduledFuture<?> progress = timer.scheduleAtFixedRate(
                () -> listener.progress(elapsedMs(t0), output.totalBytes()),
                progressInterval.toMillis(), progressInterval.toMillis(), TimeUnit.MILLISECONDS);
        SandboxExit exit;
        try {
            exit = awaitExit(execution, running, prepared, t0 + plan.limits().timeout().toNanos());
            joinQuietly(stdout, stderr);
        } finally {
            progress.cancel(false);
        }
        long durationMs = elapsedMs(t0);

        List<SecurityEvent> events = new ArrayList<>();
        ExecutionStatus status;
        String reason = null;
        Integer exitCode = exit.exitCode();
        if (execution.terminated()) {
            status = ExecutionStatus.TERMINATED;
            reason = "terminated on request";
        } else if (execution.timedOut()) {
            status = ExecutionStatus.TIMEOUT;
            reason = "exceeded the timeout of " + plan.limits().timeout().toMillis() + " ms; every process was killed";
            events.add(SecurityEvent.now("sandbox.timeout", Severity.MEDIUM, reason,
                    Map.of("timeoutMs", plan.limits().timeout().toMillis())));
        } else if (output.limitHit()) {
            status = ExecutionStatus.OUTPUT_LIMIT;
            reason = "output exceeded " + plan.limits().outputBytes() + " bytes; the sandbox was killed";
            events.add(SecurityEvent.now("sandbox.output_limit", Severity.LOW, reason,
                    Map.of("outputBytes", plan.limits().outputBytes())));
        } else if (exit.failure() != null) {
            status = ExecutionStatus.ERROR;
            reason = exit.failure();
        } else if (exit.oomKilled() && exitCode != null && exitCode == 128 + 9) {
            status = ExecutionStatus.OOM_KILLED;
            reason = "killed for exceeding the memory limit of " + plan.limits().memoryBytes() + " bytes";
        } else {
            status = ExecutionStatus.COMPLETED;
        }
        if (exit.oomKilled()) {
            events.add(SecurityEvent.now("sandbox.oom_kill", Severity.MEDIUM,
                    "the kernel killed a process at the memory limit", Map.of("memoryBytes", plan.limits().memoryBytes())));
        }
        if (exit.pidsLimitHit()) {
            events.add(SecurityEvent.now("sandbox.pids_limit", Severity.MEDIUM,
                    "process creation was refused at the pids limit", Map.of("pids", plan.limits().pids())));
        }
        ResourceUsage usage = ResourceUsage.of(exit.cpuMillis(), durationMs, exit.peakMemoryBytes(), NetworkIO.NONE);
        return new ExecutionResult(execution.executionId(), status, exitCode, output.stdout().text(),
                running.withoutRuntimeNoise(output.stderr().text()), output.stdout().truncated(), output.stderr().truncated(), durationMs,
                execution.runtime(), plan.securityLevel(), plan.image(), usage, events, reason);
    }

    /**
     * Waits for the program's end. At the deadline, or on terminate, it is killed, and the kill is repeated
     * until the program is gone: a kill can miss a container that is still being created.
     */
    private static SandboxExit awaitExit(ActiveExecution execution, RunningSandbox running, PreparedSandbox prepared,
                                         long deadlineNanos) throws SandboxException {
        // A platform thread: before JDK 24, Process.waitFor's monitor wait pins a virtual thread's carrier.
        CompletableFuture<SandboxExit> exit = CompletableFuture.supplyAsync(() -> {
            try {
                return running.awaitExit();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return SandboxExit.failed("interrupted while waiting for the sandbox");
            }
        }, task -> Thread.ofPlatform().daemon().name("await-" + execution.executionId()).start(withId(execution.executionId(), task)));
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

    /**
     * The result with its output scanned for secrets and personal data (redacted or withheld as the mode
     * says) and the image's and the policy's report-only findings added to the sandbox's own security events.
     */
    private ExecutionResult scanned(ExecutionResult r, List<SecurityEvent> policyEvents, DlpMode requested) {
        ScanOutcome scan = scanner.scan(r.stdout(), r.stderr(), requested != null ? requested : defaultDlpMode);
        List<SecurityEvent> events = new ArrayList<>(policyEvents);
        events.addAll(r.securityEvents());
        events.addAll(scan.events());
        return new ExecutionResult(r.executionId(), r.status(), r.exitCode(), scan.stdout(), scan.stderr(),
                r.stdoutTruncated(), r.stderrTruncated(), r.durationMs(), r.runtime(), r.securityLevel(), r.image(),
                r.resourceUsage(), events, r.reason());
    }

    /** Records the end. A failed write is logged loudly; the caller still gets its result. */
    private ExecutionResult remember(ExecutionRecord started, ExecutionResult result) {
        try {
            store.recordEnd(started.ended(result, Instant.now()));
        } catch (RuntimeException e) {
            log.error("the end of execution {} could not be recorded", result.executionId(), e);
        }
        log.info("execution ended: status={} exitCode={} runtime={} durationMs={}{}", result.status().wireName(),
                result.exitCode(), result.runtime(), result.durationMs(),
                result.reason() == null ? "" : " reason=" + result.reason());
        return result;
    }

    private void scheduleTeardown(PreparedSandbox prepared) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        pendingTeardowns.put(prepared.name(), done);
        String executionId = prepared.name().substring(SandboxSpec.NAME_PREFIX.length());
        teardowns.execute(withId(executionId, () -> {
            try {
                prepared.close();
            } finally {
                pendingTeardowns.remove(prepared.name());
                done.complete(null);
            }
        }));
    }

    /** Waits until every sandbox that has ended is also torn down. Returns false on timeout. */
    public boolean awaitTeardowns(Duration timeout) {
        try {
            CompletableFuture.allOf(pendingTeardowns.values().toArray(CompletableFuture[]::new))
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } catch (ExecutionException | TimeoutException e) {
            return false;
        }
    }

    /** Terminates what still runs and waits for every teardown. */
    @Override
    public void close() {
        active.values().forEach(ActiveExecution::terminate);
        workers.shutdown();
        try {
            workers.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        awaitTeardowns(Duration.ofSeconds(60));
        teardowns.shutdown();
        timer.shutdownNow();
    }

    /** Runs {@code task} with the execution id in the logging context, so every log line carries it. */
    private static Runnable withId(String executionId, Runnable task) {
        return () -> {
            try (MDC.MDCCloseable ignored = MDC.putCloseable(MDC_EXECUTION_ID, executionId)) {
                task.run();
            }
        };
    }

    private static long elapsedMs(long t0) {
        return (System.nanoTime() - t0) / 1_000_000;
    }
}
