package io.mcpsandbox.execution;

import io.mcpsandbox.host.CgroupReader;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.NetworkIO;
import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.ResourceUsage;
import io.mcpsandbox.model.SecurityEvent;
import io.mcpsandbox.model.SecurityEvent.Severity;
import io.mcpsandbox.network.SandboxEgress;
import io.mcpsandbox.policy.ExecutionPlan;
import io.mcpsandbox.pool.WaitingInterpreter;
import io.mcpsandbox.pool.WarmSandbox;
import io.mcpsandbox.runtime.PreparedSandbox;
import io.mcpsandbox.runtime.RunningSandbox;
import io.mcpsandbox.runtime.SandboxException;
import io.mcpsandbox.runtime.SandboxExit;
import io.mcpsandbox.runtime.agent.AgentChannel;
import io.mcpsandbox.runtime.agent.AgentExit;
import io.mcpsandbox.runtime.agent.AgentGaveUpException;
import io.mcpsandbox.runtime.agent.AgentProtocolException;
import io.mcpsandbox.runtime.agent.AgentLogTail;
import io.mcpsandbox.runtime.agent.ProgramRun;
import io.mcpsandbox.session.InterpreterBusyException;
import io.mcpsandbox.session.SessionLease;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * The run of one prepared sandbox: start, output through the output cap, the wait under the deadline (a kill
 * at the deadline or on terminate), how it ended and what it used. Tearing the sandbox down is the caller's.
 */
final class SandboxRunner implements AutoCloseable {
    /** How long a sandbox whose agent was lost may take to end before it is killed (for the runtime's reason). */
    private static final Duration LOST_AGENT_WAIT = Duration.ofSeconds(5);
    /** How long the agent's ready may come after the deadline: the deadline's kill ends the wait first. */
    private static final Duration HANDSHAKE_GRACE = Duration.ofSeconds(5);
    /** How long a killed sandbox may take to die before it is forcibly deleted. */
    private static final Duration KILL_GRACE = Duration.ofSeconds(10);
    private static final Duration KILL_RETRY = Duration.ofMillis(250);

    private final Duration progressInterval;
    private final ImageOutputs imageOutputs;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "execution-progress");
        t.setDaemon(true);
        return t;
    });

    /**
     * @param progressInterval how often a running execution's listener hears of its elapsed time and output
     * @param imageOutputs     finds the images a snippet wrote, for a request that wants them back
     */
    SandboxRunner(Duration progressInterval, ImageOutputs imageOutputs) {
        this.progressInterval = progressInterval;
        this.imageOutputs = imageOutputs;
    }

    /** What runs in a session for one execution: a new process of its agent, or a cell of its interpreter. */
    @FunctionalInterface
    interface SessionProgram {
        /**
         * Starts it, its output going to {@code sink}; the handle kills it and tells its end.
         *
         * @throws InterpreterBusyException the session's interpreter still runs an earlier call: nothing started
         */
        Started start(ProgramRun.OutputSink sink) throws IOException, InterpreterBusyException;
    }

    /** A started session program: how to kill it (repeatable) and how it ended. */
    record Started(Runnable kill, CompletableFuture<ProgramRun.End> end) {
    }

    /**
     * Runs the program in the sandbox to its end and returns its result, output not yet scanned. The sandbox's
     * agent starts it; everything the agent says is a claim, so the deadline, the output cap and the memory
     * verdict are the host's own (its clock, its byte count, the cgroup).
     *
     * @param startNanos when the execution started ({@link System#nanoTime}); the deadline counts from it
     */
    ExecutionResult run(ActiveExecution execution, ExecutionPlan plan, PreparedSandbox prepared,
                        ExecutionListener listener, long startNanos, boolean wantImages, SandboxEgress egress)
            throws SandboxException {
        if (execution.terminated()) {
            return terminatedBeforeStart(execution, plan, startNanos);
        }
        long deadlineNanos = startNanos + plan.limits().timeout().toNanos();
        RunningSandbox running = prepared.start();
        AgentLogTail agentLog = AgentLogTail.follow(running.agentLog(), execution.executionId());
        Launch launch = (channel, sink, beforeStart) -> {
            // Past the deadline: the host's own clock times the run out (and kills it) first, so a slow start is
            // a timeout, not a lost agent.
            Duration handshake = Duration.ofNanos(Math.max(1, deadlineNanos - System.nanoTime()))
                    .plus(HANDSHAKE_GRACE);
            AgentChannel c = AgentChannel.open(prepared.name(), running.fromAgent(), running.toAgent(), handshake);
            channel.set(c);
            if (egress != null) {
                attach(egress, c, deadlineNanos);
            }
            beforeStart.accept(c);
            return ProgramRun.start(c, plan.command(), plan.env(), plan.workDir(), plan.stdin(),
                    execution.keepsStdinOpen(), sink);
        };
        return runLaunched(execution, plan, running, prepared::close, agentLog, launch, 0, listener, startNanos,
                wantImages);
    }

    /** The sandbox's way out, before its program starts: its agent listens for the program's connections. */
    private static void attach(SandboxEgress egress, AgentChannel channel, long deadlineNanos) throws IOException {
        try {
            egress.attach(channel, Duration.ofNanos(Math.max(1, deadlineNanos - System.nanoTime())));
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IOException("network: the sandbox's agent did not open its proxy port in time", e);
        } catch (IOException e) {
            throw new IOException("network: the sandbox's agent could not open its proxy port: " + e.getMessage(), e);
        }
    }

    /**
     * Runs the program in a sandbox a pool started ahead (its agent ready; its files already placed): as
     * {@link #run}, the deadline counted from {@code startNanos}, the program on the agent's channel, the whole
     * sandbox killed at a limit. A language pool's waiting interpreter gets its go instead of a new process. The
     * CPU the sandbox used while it waited is not the execution's.
     */
    ExecutionResult runWarm(ActiveExecution execution, ExecutionPlan plan, WarmSandbox warm,
                            ExecutionListener listener, long startNanos, boolean wantImages) throws SandboxException {
        if (execution.terminated()) {
            return terminatedBeforeStart(execution, plan, startNanos);
        }
        Launch launch = (channel, sink, beforeStart) -> {
            channel.set(warm.channel());
            beforeStart.accept(warm.channel());
            Optional<WaitingInterpreter> interpreter = warm.interpreter();
            return interpreter.isPresent()
                    ? interpreter.get().release(sink, plan.stdin(), execution.keepsStdinOpen())
                    : ProgramRun.start(warm.channel(), plan.command(), plan.env(), plan.workDir(), plan.stdin(),
                            execution.keepsStdinOpen(), sink);
        };
        return runLaunched(execution, plan, warm.running(), warm::close, warm.agentLog(), launch,
                warm.cpuNanosAtTake(), listener, startNanos, wantImages);
    }

    /** Opens (or takes) the agent's channel and starts the program on it, its output to {@code sink}. */
    @FunctionalInterface
    private interface Launch {
        /**
         * @param channel     set to the agent's channel as soon as it is open (closed by the caller at the end)
         * @param beforeStart runs on the open channel before the program starts
         */
        ProgramRun start(AtomicReference<AgentChannel> channel, ProgramRun.OutputSink sink,
                         Consumer<AgentChannel> beforeStart) throws IOException;
    }

    private static ExecutionResult terminatedBeforeStart(ActiveExecution execution, ExecutionPlan plan,
                                                         long startNanos) {
        return ExecutionResult.notRun(execution.executionId(), ExecutionStatus.TERMINATED,
                "terminated before it started", execution.runtime(), plan.securityLevel(), plan.image(),
                ExecutionService.elapsedMs(startNanos), List.of());
    }

    /**
     * The run of a started sandbox: the program launched on a thread of its own (the handshake and the start block
     * on the sandbox's pipes), output through the cap, the wait under the deadline, the images, the channel's
     * close (the agent then kills what the program left running, and exits), how it ended and what it used.
     *
     * @param forceStop    removes the sandbox, for one that does not die when killed
     * @param cpuNanosBase CPU time the sandbox had used before this execution's start, not counted as its usage
     */
    private ExecutionResult runLaunched(ActiveExecution execution, ExecutionPlan plan, RunningSandbox running,
                                        Runnable forceStop, AgentLogTail agentLog, Launch launch, long cpuNanosBase,
                                        ExecutionListener listener, long startNanos, boolean wantImages)
            throws SandboxException {
        String id = execution.executionId();
        ResourceLimits limits = plan.limits();
        long deadlineNanos = startNanos + limits.timeout().toNanos();
        execution.started(running::kill);
        // The cap is seen on the channel's reader thread, which must go on reading while the kill happens: a
        // Docker kill waits for the attach's output to be taken, so a kill on that thread would never return.
        OutputCapture output = new OutputCapture(limits.outputBytes(),
                () -> Thread.ofPlatform().daemon().name("output-cap-" + id).start(running::kill), execution.output());
        AtomicReference<AgentChannel> channel = new AtomicReference<>();
        AtomicReference<ImageOutputs.Snapshot> images = new AtomicReference<>();
        CompletableFuture<ProgramRun.End> end = new CompletableFuture<>();
        Consumer<AgentChannel> beforeStart = wantImages ? c -> images.set(imageOutputs.snapshot(c)) : c -> { };
        Thread.ofPlatform().daemon().name("agent-" + id).start(ExecutionService.withId(id, () -> {
            try {
                ProgramRun run = launch.start(channel, sinkOf(output), beforeStart);
                execution.programStarted(run);
                run.end().thenAccept(end::complete);
            } catch (IOException | RuntimeException e) {
                end.complete(new ProgramRun.End.Lost(e instanceof IOException io ? io : new IOException(e)));
            }
        }));
        ScheduledFuture<?> progress = timer.scheduleAtFixedRate(
                () -> listener.progress(ExecutionService.elapsedMs(startNanos), output.totalBytes()),
                progressInterval.toMillis(), progressInterval.toMillis(), TimeUnit.MILLISECONDS);
        ProgramRun.End programEnd;
        long durationMs;
        ImageOutputs.Collected collected = ImageOutputs.Collected.NONE;
        try {
            programEnd = awaitEnd(execution, running::kill, forceStop, end, deadlineNanos);
            durationMs = ExecutionService.elapsedMs(startNanos);
            if (images.get() != null && channel.get() != null && !(programEnd instanceof ProgramRun.End.Lost)) {
                collected = imageOutputs.collect(channel.get(), images.get());
            }
        } finally {
            progress.cancel(false);
            AgentChannel c = channel.get();
            if (c != null) {
                c.close(); // the agent reads end of file: it kills whatever the program left running, and exits
            }
        }
        SandboxExit exit = exitOf(programEnd, running, execution.killRequested() || output.limitHit(), agentLog);
        ExitClassification ended = ExitClassification.of(exit, execution.terminated(), execution.timedOut(),
                output.limitHit(), limits);
        if (ended.status() == ExecutionStatus.TIMEOUT && channel.get() == null) {
            // The deadline came before the sandbox's agent said ready: no program ran (a VM that never booted, or
            // whose agent never answered). The sandbox failed; it is not the program's timeout.
            ended = new ExitClassification(ExecutionStatus.ERROR, null, "the sandbox's agent never answered within "
                    + "the timeout of " + limits.timeout().toMillis() + " ms: the sandbox did not come up"
                    + agentLog.describe());
        }
        long cpuMs = Math.max(0, exit.cpuMillis() - cpuNanosBase / 1_000_000);
        return result(execution, plan, programEnd, ended, output, exit, ResourceUsage.of(cpuMs, durationMs,
                exit.peakMemoryBytes(), NetworkIO.NONE), durationMs, limits)
                .withImages(collected.images(), collected.skipped());
    }

    /**
     * Runs a program in a session's sandbox (a new process of its agent, or a cell of its interpreter), with its
     * own deadline and output cap. A kill (deadline, terminate, cap) goes through the agent; an agent that does
     * not end the program within {@link #KILL_GRACE} loses the session (its sandbox is killed). Usage is the
     * session's cgroup: CPU counted from this program's start, peak memory the session's.
     */
    ExecutionResult runInSession(ActiveExecution execution, ExecutionPlan plan, SessionLease lease,
                                 SessionProgram program, ExecutionListener listener, long startNanos,
                                 boolean wantImages) throws InterpreterBusyException {
        String id = execution.executionId();
        ResourceLimits limits = plan.limits();
        long deadlineNanos = startNanos + limits.timeout().toNanos();
        AtomicReference<Runnable> kill = new AtomicReference<>();
        Runnable killProgram = () -> {
            Runnable k = kill.get();
            if (k != null) {
                k.run();
            }
        };
        execution.started(killProgram);
        OutputCapture output = new OutputCapture(limits.outputBytes(),
                () -> Thread.ofPlatform().daemon().name("output-cap-" + id).start(killProgram), execution.output());
        long cpuBefore = lease.usage().cpuNanos();
        ImageOutputs.Snapshot images = wantImages ? imageOutputs.snapshot(lease.channel()) : null;
        CompletableFuture<ProgramRun.End> end = new CompletableFuture<>();
        try {
            Started started = program.start(sinkOf(output));
            kill.set(started.kill());
            started.end().thenAccept(end::complete);
            // A kill asked for before the program's handle existed (terminate, or output past the cap) found
            // nothing to signal: it is repeated now.
            if (execution.killRequested() || output.limitHit()) {
                killProgram.run();
            }
        } catch (IOException | RuntimeException e) {
            end.complete(new ProgramRun.End.Lost(e instanceof IOException io ? io : new IOException(e)));
        }
        ScheduledFuture<?> progress = timer.scheduleAtFixedRate(
                () -> listener.progress(ExecutionService.elapsedMs(startNanos), output.totalBytes()),
                progressInterval.toMillis(), progressInterval.toMillis(), TimeUnit.MILLISECONDS);
        ProgramRun.End programEnd;
        try {
            programEnd = awaitEnd(execution, killProgram,
                    () -> lease.fail("its agent did not end a program the host killed"), end, deadlineNanos);
        } catch (SandboxException e) {
            programEnd = new ProgramRun.End.Lost(new IOException(e.getMessage()));
        } finally {
            progress.cancel(false);
        }
        long durationMs = ExecutionService.elapsedMs(startNanos);
        ImageOutputs.Collected collected = images != null && !(programEnd instanceof ProgramRun.End.Lost)
                ? imageOutputs.collect(lease.channel(), images) : ImageOutputs.Collected.NONE;
        CgroupReader.Usage usage = lease.usage();
        boolean killedByHost = execution.killRequested() || output.limitHit();
        SandboxExit exit = switch (programEnd) {
            case ProgramRun.End.Lost lost -> {
                if (!killedByHost) {
                    lease.fail("its agent was lost (" + lost.cause().getMessage() + ")" + lease.agentLog());
                }
                yield new SandboxExit(killedByHost ? ExitClassification.SIGKILL_EXIT : null, 0, 0,
                        usage.oomKills() > 0, usage.pidsLimitHits() > 0, killedByHost ? null
                        : lostAgent(lost.cause()) + "; the session is closed");
            }
            default -> programExit(programEnd, usage);
        };
        long cpuMs = Math.max(0, usage.cpuNanos() - cpuBefore) / 1_000_000;
        ExitClassification ended = ExitClassification.of(exit, execution.terminated(), execution.timedOut(),
                output.limitHit(), limits);
        return result(execution, plan, programEnd, ended, output, exit, ResourceUsage.of(cpuMs, durationMs,
                usage.peakMemoryBytes(), NetworkIO.NONE), durationMs, limits)
                .withImages(collected.images(), collected.skipped());
    }

    /** A new process of the session's agent: {@code argv} as planned, its stdin as the request asked. */
    static SessionProgram process(ActiveExecution execution, ExecutionPlan plan, SessionLease lease) {
        return sink -> started(execution, ProgramRun.start(lease.channel(), plan.command(), plan.env(),
                plan.workDir(), plan.stdin(), execution.keepsStdinOpen(), sink));
    }

    /** The session's spare interpreter, started ahead for exactly this program: it gets its go and its stdin. */
    static SessionProgram released(ActiveExecution execution, ExecutionPlan plan, WaitingInterpreter spare) {
        return sink -> started(execution, spare.release(sink, plan.stdin(), execution.keepsStdinOpen()));
    }

    private static Started started(ActiveExecution execution, ProgramRun run) {
        execution.programStarted(run);
        return new Started(() -> {
            try {
                run.process().signal(SIGKILL);
            } catch (IOException | RuntimeException e) {
                // the channel is gone: the run's end says so
            }
        }, run.end());
    }

    private static final int SIGKILL = 9;

    private static ProgramRun.OutputSink sinkOf(OutputCapture output) {
        return new ProgramRun.OutputSink() {
            @Override
            public void stdout(byte[] chunk) {
                output.stdout().accept(chunk);
            }

            @Override
            public void stderr(byte[] chunk) {
                output.stderr().accept(chunk);
            }
        };
    }

    /** The end the agent reported, as an exit: its code (128+N for a signal), 127/126 for a program it cannot run. */
    private static SandboxExit programExit(ProgramRun.End end, CgroupReader.Usage usage) {
        long cpuMs = usage.cpuNanos() / 1_000_000;
        boolean oom = usage.oomKills() > 0;
        boolean pids = usage.pidsLimitHits() > 0;
        return switch (end) {
            case ProgramRun.End.Exited e -> new SandboxExit(e.exit().kind() == AgentExit.Kind.EXITED
                    ? e.exit().value() : 128 + e.exit().value(), cpuMs, usage.peakMemoryBytes(), oom, pids, null);
            case ProgramRun.End.StartFailed f -> f.reason().startsWith(EXEC_FAILURE)
                    ? new SandboxExit(f.reason().contains("No such file") ? 127 : 126, cpuMs, usage.peakMemoryBytes(),
                            oom, pids, null)
                    : new SandboxExit(null, cpuMs, usage.peakMemoryBytes(), oom, pids,
                            "the program could not be started: " + f.reason());
            case ProgramRun.End.Lost lost -> throw new IllegalArgumentException("not a program's own end");
        };
    }

    private static ExecutionResult result(ActiveExecution execution, ExecutionPlan plan, ProgramRun.End programEnd,
                                          ExitClassification ended, OutputCapture output, SandboxExit exit,
                                          ResourceUsage usage, long durationMs, ResourceLimits limits) {
        String stderr = output.stderr().text();
        if (programEnd instanceof ProgramRun.End.StartFailed failed && ended.status() == ExecutionStatus.COMPLETED) {
            stderr += failed.reason() + "\n"; // what a shell prints for a program it cannot run
        }
        return ExecutionResult.running(execution.executionId(), execution.runtime(), plan.securityLevel(),
                        plan.image(), durationMs)
                .withStatus(ended.status(), ended.exitCode(), ended.reason())
                .withOutput(output.stdout().text(), stderr, output.stdout().truncated(), output.stderr().truncated())
                .withResourceUsage(usage)
                .withSecurityEvents(events(ended, exit, limits));
    }

    /**
     * The facts of the run: the program's exit as the agent reported it (the program's own business), the
     * cgroup's usage and limit hits, and, when the agent was lost without the host killing the sandbox, the
     * runtime's own failure or the agent's.
     */
    private static SandboxExit exitOf(ProgramRun.End end, RunningSandbox running, boolean killedByHost,
                                      AgentLogTail agentLog) {
        CgroupReader.Usage usage = running.usage();
        if (!(end instanceof ProgramRun.End.Lost lost)) {
            return programExit(end, usage);
        }
        long cpuMs = usage.cpuNanos() / 1_000_000;
        boolean oom = usage.oomKills() > 0;
        boolean pids = usage.pidsLimitHits() > 0;
        if (killedByHost) {
            return new SandboxExit(ExitClassification.SIGKILL_EXIT, cpuMs, usage.peakMemoryBytes(), oom, pids, null);
        }
        if (oom) {
            // The OOM killer took the agent (it is in the sandbox's cgroup too): the program went with it.
            return new SandboxExit(ExitClassification.SIGKILL_EXIT, cpuMs, usage.peakMemoryBytes(), true, pids, null);
        }
        SandboxExit sandbox = awaitSandboxEnd(running);
        if (sandbox.oomKilled()) {
            // Seen only once the sandbox ended (Docker's own OOM flag; gVisor's OOM killer may take the agent).
            return new SandboxExit(ExitClassification.SIGKILL_EXIT, cpuMs, usage.peakMemoryBytes(), true, pids, null);
        }
        String why = sandbox.failure() != null ? sandbox.failure() : lostAgent(lost.cause()) + agentLog.describe();
        return new SandboxExit(null, cpuMs, usage.peakMemoryBytes(), oom, pids, why);
    }

    /** Why the channel ended, as the result says it: a broken protocol is the sandbox's doing, never a result. */
    private static String lostAgent(IOException cause) {
        if (cause instanceof AgentProtocolException) {
            return "the sandbox's agent broke the protocol (" + cause.getMessage() + ")";
        }
        if (cause instanceof AgentGaveUpException) {
            return "the sandbox's agent gave up (" + cause.getMessage() + ")";
        }
        return "the sandbox's agent ended before the program did (" + cause.getMessage() + ")";
    }

    /** The agent's text for a program that cannot be executed (then 127 or 126, as a shell answers). */
    static final String EXEC_FAILURE = "cannot execute the program: ";

    /** The sandbox's end after its agent was lost, for the runtime's own failure; killed if it does not end. */
    private static SandboxExit awaitSandboxEnd(RunningSandbox running) {
        CompletableFuture<SandboxExit> exit = CompletableFuture.supplyAsync(() -> {
            try {
                return running.awaitExit();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return SandboxExit.failed("interrupted");
            }
        }, task -> Thread.ofPlatform().daemon().start(task));
        try {
            return exit.get(LOST_AGENT_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            running.kill();
            return new SandboxExit(null, 0, 0, false, false, null);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new SandboxExit(null, 0, 0, false, false, null);
        } catch (ExecutionException e) {
            return new SandboxExit(null, 0, 0, false, false, null);
        }
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
     * Waits for the program's end. At the deadline, or on terminate, {@code kill} runs, repeated until the
     * program's end is known (a kill can miss a container that is still being created); when that takes longer
     * than {@link #KILL_GRACE}, {@code forceStop} (which ends the channel, so the end is known at once).
     */
    private static ProgramRun.End awaitEnd(ActiveExecution execution, Runnable kill, Runnable forceStop,
                                           CompletableFuture<ProgramRun.End> end, long deadlineNanos)
            throws SandboxException {
        long killSince = 0;
        try {
            while (true) {
                long slice = execution.killRequested() ? KILL_RETRY.toNanos()
                        : Math.max(0, Math.min(deadlineNanos - System.nanoTime(), KILL_RETRY.toNanos()));
                try {
                    ProgramRun.End ended = end.get(slice, TimeUnit.NANOSECONDS);
                    if (ended instanceof ProgramRun.End.Lost && !execution.killRequested()
                            && System.nanoTime() >= deadlineNanos) {
                        execution.timeOut(); // lost at the deadline: the clock ran out first
                    }
                    return ended;
                } catch (TimeoutException stillRunning) {
                    if (!execution.killRequested() && System.nanoTime() >= deadlineNanos) {
                        execution.timeOut();
                    }
                    if (execution.killRequested()) {
                        killSince = killSince == 0 ? System.nanoTime() : killSince;
                        if (System.nanoTime() - killSince > KILL_GRACE.toNanos()) {
                            forceStop.run();
                            return end.get(5, TimeUnit.SECONDS);
                        }
                        kill.run();
                    }
                }
            }
        } catch (TimeoutException e) {
            throw new SandboxException("the sandbox did not stop after being killed; it was force-deleted");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            kill.run();
            throw new SandboxException("interrupted while waiting for the sandbox");
        } catch (ExecutionException e) {
            throw new SandboxException("waiting for the sandbox failed: " + e.getCause(), e.getCause());
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
