package io.mcpsandbox.pool;

import io.mcpsandbox.policy.ExecutionPlan;
import io.mcpsandbox.runtime.agent.AgentChannel;
import io.mcpsandbox.runtime.agent.ProgramRun;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * An interpreter started ahead in a pooled sandbox, waiting for its go ({@link WarmStarter}). It was started with
 * exactly the program, environment and working directory a snippet of its language gets by default, so it serves
 * only a plan with those (the pool checks); everything else about the program is as on a cold start.
 */
public final class WaitingInterpreter {
    private final ProgramRun run;
    private final HeldOutput output;

    private WaitingInterpreter(ProgramRun run, HeldOutput output) {
        this.run = run;
        this.output = output;
    }

    /** Starts {@code argv} (the starter's) as the template plan would start its program, stdin held open. */
    static WaitingInterpreter start(AgentChannel channel, List<String> argv, ExecutionPlan template)
            throws IOException {
        return start(channel, argv, template.env(), template.workDir());
    }

    private static WaitingInterpreter start(AgentChannel channel, List<String> argv, Map<String, String> env,
                                            String workDir) throws IOException {
        HeldOutput output = new HeldOutput();
        ProgramRun run = ProgramRun.startHeld(channel, argv, env, workDir, output);
        return new WaitingInterpreter(run, output);
    }

    /**
     * Starts an interpreter ahead for a snippet of {@code language} that runs as {@code command} (its
     * {@code [interpreter, file]}) with {@code env} in {@code workDir}: a session's spare for its next snippet.
     * Empty when the language has no starter or the command another shape.
     *
     * @throws IOException the channel failed while the start was sent
     */
    public static Optional<WaitingInterpreter> startAhead(AgentChannel channel, String language,
                                                          List<String> command, Map<String, String> env,
                                                          String workDir) throws IOException {
        Optional<List<String>> argv = WarmStarter.of(language).flatMap(s -> s.argv(command));
        return argv.isEmpty() ? Optional.empty() : Optional.of(start(channel, argv.get(), env, workDir));
    }

    /**
     * Sends it away without a program: its stdin is closed, so the starter exits without running anything; it is
     * killed if it has not ended within {@code grace}. Does not wait.
     */
    public void discard(Duration grace) {
        try {
            run.feed(null, false);
        } catch (IOException e) {
            // the channel is gone: so is the interpreter
        }
        run.end().copy().completeOnTimeout(null, grace.toMillis(), TimeUnit.MILLISECONDS).thenAccept(end -> {
            if (end == null) {
                try {
                    run.process().signal(SIGKILL);
                } catch (IOException | RuntimeException e) {
                    // the channel is gone: its end says so
                }
            }
        });
    }

    private static final int SIGKILL = 9;

    /**
     * Waits until the interpreter has loaded and waits for its go (under TCG, a microVM's python takes about a
     * second to load: a pool that handed it out earlier would hand that second to the request).
     *
     * @throws IOException it ended first, or did not say so within {@code timeout}
     */
    void awaitLoaded(Duration timeout) throws IOException {
        try {
            CompletableFuture.anyOf(output.ready(), run.end())
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new IOException("the interpreter did not load within " + timeout.toMillis() + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while the interpreter loaded", e);
        } catch (ExecutionException e) {
            throw new IOException("the interpreter failed: " + e.getCause(), e);
        }
        if (!output.ready().isDone()) {
            throw new IOException("the interpreter ended before it was loaded");
        }
    }

    /** Still waiting: it has not ended (killed, out of memory, or its sandbox gone). */
    public boolean waiting() {
        return !run.end().isDone();
    }

    /**
     * Gives it its go, then {@code stdin}; its output goes to {@code sink} from now on (and what it printed
     * before, if anything). The file it runs must be in place. Once.
     *
     * @throws IOException the channel failed
     */
    public ProgramRun release(ProgramRun.OutputSink sink, byte[] stdin, boolean keepStdinOpen) throws IOException {
        output.attach(sink);
        byte[] first = new byte[1 + (stdin == null ? 0 : stdin.length)];
        first[0] = WarmStarter.GO;
        if (stdin != null) {
            System.arraycopy(stdin, 0, first, 1, stdin.length);
        }
        run.feed(first, keepStdinOpen);
        return run;
    }
}
