package io.mcpsandbox.execution;

import io.mcpsandbox.image.ImageResolver;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.RequestSummary;
import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.model.SecurityEvent;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.model.DlpMode;
import io.mcpsandbox.model.ResourceUsage;
import io.mcpsandbox.network.EgressPolicy;
import io.mcpsandbox.network.NetworkAccess;
import io.mcpsandbox.network.SandboxEgress;
import io.mcpsandbox.policy.CommandPolicy;
import io.mcpsandbox.policy.CommandRule;
import io.mcpsandbox.policy.ExecutionPlan;
import io.mcpsandbox.policy.PolicyViolation;
import io.mcpsandbox.policy.RequestValidator;
import io.mcpsandbox.policy.RuntimeSelector;
import io.mcpsandbox.pool.SandboxPool;
import io.mcpsandbox.pool.WarmSandbox;
import io.mcpsandbox.record.ExecutionStore;
import io.mcpsandbox.scan.ImageVulnerabilityPolicy;
import io.mcpsandbox.scan.OutputScanner;
import io.mcpsandbox.scan.ScanOutcome;
import io.mcpsandbox.runtime.PreparedSandbox;
import io.mcpsandbox.runtime.SandboxException;
import io.mcpsandbox.runtime.SandboxRuntime;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.session.SessionFiles;
import io.mcpsandbox.session.SessionLease;
import io.mcpsandbox.session.SessionService;
import io.mcpsandbox.session.SessionUnavailableException;
import io.mcpsandbox.config.LanguageSpec;
import io.mcpsandbox.runtime.agent.AgentExit;
import io.mcpsandbox.runtime.agent.ProgramRun;
import io.mcpsandbox.session.CellEnd;
import io.mcpsandbox.session.CellRun;
import io.mcpsandbox.session.Interpreter;
import io.mcpsandbox.session.InterpreterBusyException;
import io.mcpsandbox.session.KernelLanguage;
import java.util.concurrent.atomic.AtomicReference;
import java.io.IOException;
import java.nio.file.Path;
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
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * The execution pipeline: validation, command policy, runtime choice, image and its scan, the record, the run
 * of the sandbox ({@link SandboxRunner}), the output scan, the result. Teardown runs off the request's path;
 * {@link #awaitTeardowns} waits for it.
 */
public final class ExecutionService implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ExecutionService.class);
    /** How long placing an execution's files in a pooled sandbox may take before it is dropped for a cold one. */
    private static final Duration FILE_PLACING = Duration.ofSeconds(10);
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
    private final SandboxRunner sandboxes;
    private final Runnable beforeSandbox;
    private final SessionService sessions;
    private final SandboxPool pool;
    private final SandboxClaims claims;
    private final NetworkAccess network;
    private final Map<String, ActiveExecution> active = new ConcurrentHashMap<>();
    private final ExecutorService workers = Executors.newVirtualThreadPerTaskExecutor();
    private final ExecutorService teardowns = Executors.newVirtualThreadPerTaskExecutor();
    private final Map<String, CompletableFuture<Void>> pendingTeardowns = new ConcurrentHashMap<>();
    /** The cluster node this server is ({@link #recordAsNode}); null outside cluster mode. */
    private volatile String node;

    /**
     * @param commandPolicy  the tripwire rules run on every command and snippet (not the boundary)
     * @param scanner        finds secrets and personal data in the output of every execution
     * @param defaultDlpMode what the scanner does when a request does not say
     * @param imageScans     vulnerability findings of catalog images (events, or a refusal)
     * @param beforeSandbox  runs before each execution's record and sandbox exist (starts the owner watchdog)
     * @param sessions       the live sessions, for a request with a {@code sessionId}
     * @param imageOutputs   finds the images a snippet wrote, for a request that wants them back
     * @param pool           sandboxes started ahead, taken when one fits the request (else a cold start)
     * @param stateDir       where the claims on pooled sandboxes are kept (SandboxClaims), for crash recovery
     * @param network        whether a request may have network, and its sandbox's egress (docs/network.md)
     */
    public ExecutionService(RequestValidator validator, CommandPolicy commandPolicy, RuntimeSelector selector,
                            ImageResolver images, ImageVulnerabilityPolicy imageScans, OutputScanner scanner,
                            DlpMode defaultDlpMode, ExecutionStore store, Duration progressInterval,
                            Runnable beforeSandbox, SessionService sessions, ImageOutputs imageOutputs,
                            SandboxPool pool, Path stateDir, NetworkAccess network) {
        this.beforeSandbox = beforeSandbox;
        this.network = network;
        this.pool = pool;
        this.claims = new SandboxClaims(stateDir);
        this.sessions = sessions;
        this.validator = validator;
        this.commandPolicy = commandPolicy;
        this.selector = selector;
        this.images = images;
        this.imageScans = imageScans;
        this.scanner = scanner;
        this.defaultDlpMode = defaultDlpMode;
        this.store = store;
        this.sandboxes = new SandboxRunner(progressInterval, imageOutputs);
    }

    /**
     * From now on every execution this service runs (or refuses) names {@code nodeId} in its record and result:
     * the cluster node it ran on (cluster mode; a spilled execution is run, and so named, by the node that took it).
     */
    public void recordAsNode(String nodeId) {
        this.node = nodeId;
    }

    /** Runs a request to its end and returns the result object. Never throws for a request's failure. */
    public ExecutionResult execute(ExecutionRequest request) {
        return execute(request, ExecutionListener.NONE);
    }

    public ExecutionResult execute(ExecutionRequest request, ExecutionListener listener) {
        return run(register(UUID.randomUUID().toString(), request), request, listener);
    }

    /** Starts a request in the background; the id is known at once (async REST, MCP with progress). */
    public Submission submit(ExecutionRequest request, ExecutionListener listener) {
        return submit(UUID.randomUUID().toString(), request, listener);
    }

    /** Starts a request under an id given ahead (a queued execution's, known since its submission). */
    public Submission submit(String executionId, ExecutionRequest request, ExecutionListener listener) {
        ActiveExecution execution = register(executionId, request);
        CompletableFuture<ExecutionResult> result = CompletableFuture.supplyAsync(
                () -> run(execution, request, listener), workers);
        return new Submission(execution.executionId(), result);
    }

    public record Submission(String executionId, CompletableFuture<ExecutionResult> result) {
    }

    /**
     * The request checks that need nothing but the request and the settings (language, sizes, limits, paths),
     * as the run will make them: a queued request is refused at submission rather than after its wait.
     */
    public void precheck(ExecutionRequest request) throws PolicyViolation {
        validator.validate(request);
        if (request.sessionId() == null) {
            network.policyFor(request.userId(), request.network(), request.networkAllow());
        }
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
            ExecutionResult running = ExecutionResult.running(a.executionId(), a.runtime(), a.securityLevel(),
                    a.image(), Duration.between(a.startedAt(), Instant.now()).toMillis()).withNode(node);
            // Its output so far, unless it must be scanned whole first.
            return Optional.of(a.output().withheld() ? running : running.withOutput(
                    a.output().text(OutputChunk.Stream.STDOUT), a.output().text(OutputChunk.Stream.STDERR)));
        }
        return store.find(executionId).map(r -> (r.result() != null ? r.result()
                : ExecutionResult.running(r.executionId(), r.runtime(), r.securityLevel(), r.image(),
                Duration.between(r.startedAt(), Instant.now()).toMillis()))
                .withNode(r.node() != null ? r.node() : r.result() != null ? r.result().node() : null));
    }

    /** The stored record (who ran it, what, when, how it ended). */
    public Optional<ExecutionRecord> findRecord(String executionId) {
        return store.find(executionId);
    }

    /** Stored records, newest first; of one user when {@code userId} is not null. */
    public List<ExecutionRecord> list(String userId, int limit) {
        return store.list(userId, limit);
    }

    /**
     * Stored records, newest first, each without its result (never read from the store); of one user when
     * {@code userId} is not null. What a listing uses.
     */
    public List<ExecutionRecord> listSummaries(String userId, int limit) {
        return store.listSummaries(userId, limit);
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
    private ActiveExecution register(String executionId, ExecutionRequest request) {
        SecurityLevel level = request.securityLevel() != null ? request.securityLevel() : SecurityLevel.DEFAULT;
        // Output the scanner must see whole before anyone does (redact, block) is not shown live.
        DlpMode dlp = request.dlpMode() != null ? request.dlpMode() : defaultDlpMode;
        ActiveExecution execution = new ActiveExecution(executionId, request.userId(),
                request.sessionId(), request.runtime(), level, request.image(), Instant.now(), dlp != DlpMode.REPORT,
                request.keepStdinOpen());
        active.put(execution.executionId(), execution);
        return execution;
    }

    private ExecutionResult run(ActiveExecution execution, ExecutionRequest request, ExecutionListener listener) {
        ExecutionResult result = null;
        try (MDC.MDCCloseable ignored = MDC.putCloseable(MDC_EXECUTION_ID, execution.executionId())) {
            result = runLogged(execution, request, listener);
            return result;
        } finally {
            execution.end(result);
        }
    }

    private ExecutionResult runLogged(ActiveExecution execution, ExecutionRequest request, ExecutionListener listener) {
        long t0 = System.nanoTime();
        String id = execution.executionId();
        SecurityLevel level = execution.securityLevel();
        // Until policy has chosen, what the request asked for; rejections are recorded with it.
        RequestSummary asked = RequestSummary.of(request);
        ExecutionRecord record = ExecutionRecord.started(id, request.userId(), request.sessionId(), request.image(),
                request.runtime(), level, request.command(), request.language(), execution.startedAt(), asked);
        if (request.sessionId() != null) {
            return runInSession(execution, request, listener, t0, record);
        }
        if (request.persistent()) {
            return remember(record, ExecutionResult.notRun(id, ExecutionStatus.REJECTED, "persistent: needs a "
                    + "sessionId (a session keeps the interpreter between calls)", request.runtime(), level,
                    request.image(), elapsedMs(t0), List.of()));
        }
        AutoCloseable teardown = null;
        try {
            ExecutionPlan plan;
            Optional<EgressPolicy> egressPolicy;
            SandboxRuntime runtime;
            RootFilesystem rootfs;
            CommandPolicy.Verdict verdict;
            ImageVulnerabilityPolicy.Verdict imageVerdict;
            try {
                ExecutionPlan validated = validator.validate(request);
                egressPolicy = network.policyFor(request.userId(), request.network(), request.networkAllow());
                // A sandbox with network finds its way out in its environment: the proxy's variables.
                plan = egressPolicy.isPresent() ? validated.withEnv(SandboxEgress.withProxyEnv(validated.env()))
                        : validated;
                verdict = commandPolicy.check(plan.command(), request.code());
                if (verdict.rejected()) {
                    return remember(record, ExecutionResult.notRun(id, ExecutionStatus.REJECTED,
                            rejection(verdict), request.runtime(), level, request.image(), elapsedMs(t0),
                            verdict.rejectionEvent().stream().toList()));
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
                    plan.securityLevel(), plan.command(), request.language(), execution.startedAt(), record.request());
            beforeSandbox.run();
            String unrecorded = recordStart(record);
            if (unrecorded != null) {
                return ExecutionResult.notRun(id, ExecutionStatus.ERROR, unrecorded, runtime.name(),
                        plan.securityLevel(), plan.image(), elapsedMs(t0), List.of());
            }
            // A pooled sandbox's waiting interpreter was started without the proxy's environment: network runs cold.
            Optional<WarmSandbox> warm = egressPolicy.isPresent() ? Optional.empty()
                    : takeWarm(id, request, plan, runtime, rootfs);
            log.info("execution started: user={} runtime={} level={} image={} pooled={}", request.userId(),
                    runtime.name(), plan.securityLevel().wireName(), plan.image(), warm.isPresent());
            ExecutionResult ran;
            if (warm.isPresent()) {
                WarmSandbox taken = warm.get();
                teardown = () -> {
                    taken.close();
                    claims.release(taken.name());
                };
                ran = sandboxes.runWarm(execution, plan, warm.get(), listener, t0, wantsImages(request))
                        .withPooled(true);
            } else {
                PreparedSandbox cold = runtime.prepare(new SandboxSpec(SandboxSpec.nameFor(id), rootfs,
                        plan.limits(), plan.workspaceFiles()));
                SandboxEgress egress = egressPolicy.map(p -> network.open(cold.name(), p)).orElse(null);
                teardown = egress == null ? cold : () -> {
                    egress.close();
                    cold.close();
                };
                ran = sandboxes.run(execution, plan, cold, listener, t0, wantsImages(request), egress);
                if (egress != null) {
                    ran = withEgress(ran, egress.since(SandboxEgress.Mark.ZERO));
                }
            }
            List<SecurityEvent> before = new ArrayList<>(imageVerdict.events());
            before.addAll(verdict.events());
            return remember(record, scanned(ran, before, request.dlpMode()));
        } catch (SandboxException | IOException | RuntimeException e) {
            log.warn("execution {} on {} failed: {}", id, execution.runtime(), e.getMessage(), e);
            return remember(record, ExecutionResult.notRun(id, ExecutionStatus.ERROR, e.getMessage(),
                    execution.runtime(), execution.securityLevel(), execution.image(), elapsedMs(t0), List.of()));
        } finally {
            active.remove(id);
            if (teardown != null) {
                scheduleTeardown(id, teardown);
            }
        }
    }

    private static ExecutionResult withEgress(ExecutionResult r, SessionLease lease,
                                              Optional<SandboxEgress.Mark> mark) {
        return mark.isEmpty() || lease.egress().isEmpty() ? r : withEgress(r, lease.egress().get().since(mark.get()));
    }

    /** The result with what went through the sandbox's egress: bytes, and the connections refused. */
    private static ExecutionResult withEgress(ExecutionResult r, SandboxEgress.Since since) {
        ResourceUsage u = r.resourceUsage() != null ? r.resourceUsage() : ResourceUsage.NONE;
        List<SecurityEvent> events = new ArrayList<>(r.securityEvents());
        events.addAll(since.events());
        return r.withResourceUsage(new ResourceUsage(u.cpuMillis(), u.cpuPercent(), u.peakMemoryBytes(),
                since.usage())).withSecurityEvents(events);
    }

    /**
     * A sandbox from the warm pool for this execution, its files placed through its agent; empty when none fits
     * (the caller starts one cold). A pooled sandbox that cannot take the files is dropped, and the run goes cold.
     */
    private Optional<WarmSandbox> takeWarm(String executionId, ExecutionRequest request, ExecutionPlan plan,
                                           SandboxRuntime runtime, RootFilesystem rootfs) {
        String language = null;
        if (request.isSnippet()) {
            try {
                language = validator.language(request.language()).name();
            } catch (PolicyViolation e) {
                return Optional.empty(); // validated already; cannot happen
            }
        }
        Optional<WarmSandbox> warm = pool.take(plan, runtime.name(), rootfs, language);
        if (warm.isPresent()) {
            try {
                // Before anything of the execution's enters it: after a crash, recovery finds the record by it.
                claims.claim(warm.get().name(), executionId);
                SessionFiles.write(warm.get().channel(), plan.workspaceFiles(),
                        plan.limits().timeout().compareTo(FILE_PLACING) < 0 ? plan.limits().timeout() : FILE_PLACING);
            } catch (IOException | java.util.concurrent.TimeoutException | RuntimeException e) {
                log.info("a pooled sandbox could not be claimed or take the files ({}); starting cold",
                        e.getMessage());
                claims.release(warm.get().name());
                pool.failedBeforeUse(warm.get());
                return Optional.empty();
            }
        }
        return warm;
    }

    /**
     * An execution in one of its user's sessions: checked like any other (its command, its own timeout and
     * output cap, its env on top of the session's), run as a new process of the session's agent, recorded with
     * the session's id. The sandbox-wide limits, image, runtime and level are the session's: asking for others
     * is a rejection, never a silent change.
     */
    private ExecutionResult runInSession(ActiveExecution execution, ExecutionRequest request,
                                         ExecutionListener listener, long t0, ExecutionRecord asked) {
        String id = execution.executionId();
        ExecutionRecord record = asked;
        try (SessionLease lease = sessions.lease(request.userId(), request.sessionId())) {
            ExecutionPlan plan;
            CommandPolicy.Verdict verdict;
            try {
                checkAgainstSession(request, lease);
                // The session's timeout and output cap are the defaults of its executions.
                ResourceLimits own = lease.limits();
                LimitsRequest perCall = request.limits();
                LimitsRequest limits = new LimitsRequest(perCall.timeoutMs() != null ? perCall.timeoutMs()
                        : own.timeout().toMillis(), null, null, null,
                        perCall.outputBytes() != null ? perCall.outputBytes() : own.outputBytes());
                plan = validator.validate(request.toBuilder().image(lease.image()).runtime(null)
                        .securityLevel(lease.securityLevel()).limits(limits).build());
                verdict = commandPolicy.check(plan.command(), request.code());
                if (verdict.rejected()) {
                    return remember(record, ExecutionResult.notRun(id, ExecutionStatus.REJECTED,
                            rejection(verdict), lease.runtime(), lease.securityLevel(), lease.image(),
                            elapsedMs(t0), verdict.rejectionEvent().stream().toList()));
                }
            } catch (PolicyViolation e) {
                return remember(record, ExecutionResult.notRun(id, ExecutionStatus.REJECTED, e.getMessage(),
                        lease.runtime(), lease.securityLevel(), lease.image(), elapsedMs(t0), List.of()));
            }
            LanguageSpec persistentLanguage = null;
            if (request.persistent()) {
                try {
                    persistentLanguage = persistentLanguage(request);
                } catch (PolicyViolation e) {
                    return remember(record, ExecutionResult.notRun(id, ExecutionStatus.REJECTED, e.getMessage(),
                            lease.runtime(), lease.securityLevel(), lease.image(), elapsedMs(t0), List.of()));
                }
            }
            execution.resolved(lease.runtime(), lease.securityLevel(), lease.image());
            record = ExecutionRecord.started(id, request.userId(), request.sessionId(), lease.image(),
                    lease.runtime(), lease.securityLevel(), plan.command(), request.language(),
                    execution.startedAt(), record.request());
            String unrecorded = recordStart(record);
            if (unrecorded != null) {
                return ExecutionResult.notRun(id, ExecutionStatus.ERROR, unrecorded, lease.runtime(),
                        lease.securityLevel(), lease.image(), elapsedMs(t0), List.of());
            }
            // A persistent cell travels to the interpreter: its code is not written as a file.
            Map<String, byte[]> files = new java.util.LinkedHashMap<>(plan.workspaceFiles());
            if (persistentLanguage != null) {
                files.remove(persistentLanguage.fileName());
            }
            try {
                SessionFiles.write(lease.channel(), files, plan.limits().timeout());
            } catch (IOException | java.util.concurrent.TimeoutException e) {
                // A link the session's programs planted where a file goes is refused by the agent, not followed.
                return remember(record, ExecutionResult.notRun(id, ExecutionStatus.ERROR, "files: could not be "
                        + "written to the session: " + e.getMessage(), lease.runtime(), lease.securityLevel(),
                        lease.image(), elapsedMs(t0), List.of()));
            }
            // The session's environment, then the variables this request set itself.
            Map<String, String> env = new java.util.LinkedHashMap<>(lease.env());
            env.putAll(request.env());
            // This execution's timeout and output cap within the session's sandbox-wide limits.
            ResourceLimits session = lease.limits();
            ResourceLimits limits = new ResourceLimits(plan.limits().timeout(), session.memoryBytes(), session.cpus(),
                    session.pids(), plan.limits().outputBytes(), session.tmpBytes(), session.openFiles());
            ExecutionPlan inSession = new ExecutionPlan(plan.command(), env, plan.workDir(), lease.image(),
                    lease.securityLevel(), true, lease.runtime(), limits, plan.workspaceFiles(), plan.stdin());
            log.info("execution started in session {}: user={} runtime={}{}", request.sessionId(), request.userId(),
                    lease.runtime(), persistentLanguage != null ? " (persistent)" : "");
            // What went through the session's egress while this ran (a concurrent execution's too: one way out).
            Optional<SandboxEgress.Mark> egressMark = lease.egress().map(SandboxEgress::mark);
            if (persistentLanguage == null) {
                ExecutionResult ran = sandboxes.runInSession(execution, inSession, lease,
                        sessionProgram(execution, request, inSession, lease), listener, t0, wantsImages(request));
                return remember(record, scanned(withEgress(ran, lease, egressMark), verdict.events(),
                        request.dlpMode()));
            }
            Interpreter interpreter = lease.interpreter(persistentLanguage);
            AtomicReference<CellRun> cell = new AtomicReference<>();
            ExecutionResult ran = sandboxes.runInSession(execution, inSession, lease,
                    cellOf(execution, interpreter, request.code(), inSession, cell), listener, t0,
                    wantsImages(request));
            return remember(record, scanned(withEgress(withCellEnd(ran, cell.get()), lease, egressMark),
                    verdict.events(), request.dlpMode()));
        } catch (InterpreterBusyException e) {
            return remember(record, ExecutionResult.notRun(id, ExecutionStatus.REJECTED, "persistent: "
                    + e.getMessage(), execution.runtime(), execution.securityLevel(), execution.image(),
                    elapsedMs(t0), List.of()));
        } catch (SessionUnavailableException e) {
            // Recorded without the session's id: an attempt on a session that is not the caller's (or is gone)
            // must not show up among that session's executions.
            record = ExecutionRecord.started(id, request.userId(), null, request.image(), request.runtime(),
                    execution.securityLevel(), request.command(), request.language(), execution.startedAt(),
                    record.request());
            return remember(record, ExecutionResult.notRun(id, ExecutionStatus.REJECTED, "sessionId: "
                    + e.getMessage(), request.runtime(), execution.securityLevel(), request.image(), elapsedMs(t0),
                    List.of()));
        } catch (RuntimeException e) {
            log.warn("execution {} in session {} failed: {}", id, request.sessionId(), e.getMessage(), e);
            return remember(record, ExecutionResult.notRun(id, ExecutionStatus.ERROR, e.getMessage(),
                    execution.runtime(), execution.securityLevel(), execution.image(), elapsedMs(t0), List.of()));
        } finally {
            active.remove(id);
        }
    }

    /**
     * A new process of the session's agent, or, for a snippet, the session's spare interpreter when it waits for
     * exactly this program (and then one is asked for again once this call ends).
     */
    private SandboxRunner.SessionProgram sessionProgram(ActiveExecution execution, ExecutionRequest request,
                                                        ExecutionPlan plan, SessionLease lease) {
        if (!request.isSnippet()) {
            return SandboxRunner.process(execution, plan, lease);
        }
        String language;
        try {
            language = validator.language(request.language()).name();
        } catch (PolicyViolation e) {
            return SandboxRunner.process(execution, plan, lease); // checked already: not reached
        }
        return lease.snippet(language, plan.command(), plan.env(), plan.workDir())
                .map(spare -> SandboxRunner.released(execution, plan, spare))
                .orElseGet(() -> SandboxRunner.process(execution, plan, lease));
    }

    /** Whether the caller wants the images a snippet writes (MCP execute_code). */
    private static boolean wantsImages(ExecutionRequest request) {
        return request.returnImages() && request.isSnippet();
    }

    /** The language of a persistent call: a snippet of one with an interpreter, no stdin of its own. */
    private LanguageSpec persistentLanguage(ExecutionRequest request) throws PolicyViolation {
        if (!request.isSnippet()) {
            throw new PolicyViolation("persistent", "is for snippets (language and code), not commands");
        }
        LanguageSpec spec = validator.language(request.language());
        if (KernelLanguage.of(spec).isEmpty()) {
            throw new PolicyViolation("persistent", "'" + spec.name() + "' has no persistent interpreter (python and "
                    + "node have)");
        }
        if (request.stdin() != null || request.keepStdinOpen()) {
            throw new PolicyViolation("stdin", "a persistent call takes no stdin (the interpreter reads its cells "
                    + "there)");
        }
        return spec;
    }

    /**
     * The code as the next cell of the session's interpreter. The host's kill names why (the next call's
     * notice says it); the interpreter's own end of a cell is an exit: 0, or 1 when the cell raised.
     */
    private static SandboxRunner.SessionProgram cellOf(ActiveExecution execution, Interpreter interpreter, String code,
                                                       ExecutionPlan plan, AtomicReference<CellRun> cell) {
        return sink -> {
            CellRun run = interpreter.run(code, plan.env(), plan.workDir(), sink);
            cell.set(run);
            CompletableFuture<ProgramRun.End> end = run.end().thenApply(e -> switch (e) {
                case CellEnd.Completed c -> new ProgramRun.End.Exited(new AgentExit(AgentExit.Kind.EXITED,
                        c.error() ? 1 : 0));
                case CellEnd.Ended x -> new ProgramRun.End.Exited(x.exit());
                case CellEnd.Failed f -> new ProgramRun.End.Exited(new AgentExit(AgentExit.Kind.EXITED, 1));
                case CellEnd.Lost l -> new ProgramRun.End.Lost(l.cause());
            });
            return new SandboxRunner.Started(() -> run.kill(execution.timedOut() ? "time limit"
                    : execution.terminated() ? "terminated" : "output limit"), end);
        };
    }

    /** A cell's value and notice on its result; a cell the interpreter could not run is an error saying why. */
    private static ExecutionResult withCellEnd(ExecutionResult ran, CellRun cell) {
        if (cell == null) {
            return ran;
        }
        CellEnd end = cell.end().getNow(null);
        ExecutionResult r = ran.withResultText(end instanceof CellEnd.Completed c ? c.result() : null,
                cell.notice().orElse(null));
        if (end instanceof CellEnd.Failed f && r.status() == ExecutionStatus.COMPLETED) {
            return r.withStatus(ExecutionStatus.ERROR, null, f.reason());
        }
        return r;
    }

    /** The reason of a command policy's rejection, naming its rule. */
    private static String rejection(CommandPolicy.Verdict verdict) {
        CommandRule rule = verdict.rejectedBy().orElseThrow();
        return "policy." + rule.name() + ": " + verdict.reason().orElse(rule.name());
    }

    /**
     * Writes an execution's start record. Nothing runs without one: on failure the reason (logged), else null.
     */
    private String recordStart(ExecutionRecord record) {
        try {
            store.recordStart(node == null ? record : record.withNode(node));
            return null;
        } catch (RuntimeException e) {
            log.error("execution {} not started: its record could not be written", record.executionId(), e);
            return "the execution record could not be written: " + e.getMessage();
        }
    }

    /** What a session fixes for all its executions may not be asked for differently by one of them. */
    private static void checkAgainstSession(ExecutionRequest request, SessionLease lease) throws PolicyViolation {
        if (request.runtime() != null && !request.runtime().equals(lease.runtime())) {
            throw new PolicyViolation("runtime", "the session runs on '" + lease.runtime() + "'");
        }
        if (request.securityLevel() != null && request.securityLevel() != lease.securityLevel()) {
            throw new PolicyViolation("securityLevel", "the session runs at '" + lease.securityLevel().wireName()
                    + "'");
        }
        if (request.image() != null && !request.image().equals(lease.image())) {
            throw new PolicyViolation("image", "the session runs image '" + lease.image() + "'");
        }
        if (request.limits().memoryBytes() != null || request.limits().cpus() != null
                || request.limits().pids() != null) {
            throw new PolicyViolation("limits", "memory, CPUs and pids are the session's, set when it is "
                    + "created; an execution in it sets only its timeout and output cap");
        }
        if (request.network() && lease.egress().isEmpty()) {
            throw new PolicyViolation("network", "the session was opened without network; network is set when a "
                    + "session is created");
        }
        if (!request.networkAllow().isEmpty()) {
            throw new PolicyViolation("network", "the session's network policy is set when it is created; an "
                    + "execution in it cannot name its own list");
        }
    }

    /**
     * The result with its output scanned for secrets and personal data (redacted or withheld as the mode
     * says) and the image's and the policy's report-only findings added to the sandbox's own security events.
     */
    private ExecutionResult scanned(ExecutionResult r, List<SecurityEvent> policyEvents, DlpMode requested) {
        DlpMode mode = requested != null ? requested : defaultDlpMode;
        ScanOutcome scan = scanner.scan(r.stdout(), r.stderr(), mode);
        List<SecurityEvent> events = new ArrayList<>(policyEvents);
        events.addAll(r.securityEvents());
        events.addAll(scan.events());
        ExecutionResult out = r.withOutput(scan.stdout(), scan.stderr());
        if (r.result() != null) {
            // A persistent call's value is output too (os.environ['TOKEN'] as the last line): scanned the same way.
            ScanOutcome value = scanner.scan(r.result(), "", mode);
            value.events().forEach(e -> events.add(new SecurityEvent(e.timestamp(), e.type(), e.severity(),
                    e.description(), withStream(e.details(), "result"))));
            out = out.withResultText(value.withheld() ? null : value.stdout(), r.notice());
        }
        return out.withSecurityEvents(events);
    }

    private static Map<String, Object> withStream(Map<String, Object> details, String stream) {
        Map<String, Object> relabelled = new java.util.LinkedHashMap<>(details);
        relabelled.put("stream", stream);
        return relabelled;
    }

    /** Records the end. A failed write is logged loudly; the caller still gets its result. */
    private ExecutionResult remember(ExecutionRecord started, ExecutionResult ran) {
        String on = node;
        ExecutionResult result = on == null ? ran : ran.withNode(on);
        try {
            store.recordEnd((on == null ? started : started.withNode(on)).ended(result, Instant.now()));
        } catch (RuntimeException e) {
            log.error("the end of execution {} could not be recorded", result.executionId(), e);
        }
        log.info("execution ended: status={} exitCode={} runtime={} durationMs={}{}", result.status().wireName(),
                result.exitCode(), result.runtime(), result.durationMs(),
                result.reason() == null ? "" : " reason=" + result.reason());
        return result;
    }

    private void scheduleTeardown(String executionId, AutoCloseable sandbox) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        pendingTeardowns.put(executionId, done);
        teardowns.execute(withId(executionId, () -> {
            try {
                sandbox.close();
            } catch (Exception e) {
                log.warn("the teardown of {} failed: {}", executionId, e.getMessage(), e);
            } finally {
                pendingTeardowns.remove(executionId);
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
        sandboxes.close();
    }

    /** Runs {@code task} with the execution id in the logging context, so every log line carries it. */
    static Runnable withId(String executionId, Runnable task) {
        return () -> {
            try (MDC.MDCCloseable ignored = MDC.putCloseable(MDC_EXECUTION_ID, executionId)) {
                task.run();
            }
        };
    }

    static long elapsedMs(long t0) {
        return (System.nanoTime() - t0) / 1_000_000;
    }
}
