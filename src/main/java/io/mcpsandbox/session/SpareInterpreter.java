package io.mcpsandbox.session;

import io.mcpsandbox.pool.WaitingInterpreter;
import io.mcpsandbox.runtime.agent.AgentChannel;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A session's interpreter started ahead, while the session is idle, for its next snippet: started after a
 * snippet ended and nothing else ran, with that snippet's program, environment and working directory, and used
 * only by a next call of exactly that shape that finds the session as the spare found it (docs/sessions.md,
 * "A spare interpreter"). Anything else sends it away.
 */
final class SpareInterpreter {
    private static final Logger log = LoggerFactory.getLogger(SpareInterpreter.class);
    /** How long a discarded spare has to end by itself before it is killed. */
    private static final Duration DISCARD_GRACE = Duration.ofMillis(500);
    /** How long a call waits for a spare whose start is still being sent (a frame on the agent's channel). */
    private static final Duration START_WAIT = Duration.ofSeconds(2);

    /** What a spare was started for: a call uses it only when its program is exactly this. */
    record Shape(String language, List<String> command, Map<String, String> env, String workDir) {
        Shape {
            command = List.copyOf(command);
            env = Map.copyOf(env);
        }
    }

    private final Shape shape;
    private final CompletableFuture<Optional<WaitingInterpreter>> started;

    private SpareInterpreter(Shape shape, CompletableFuture<Optional<WaitingInterpreter>> started) {
        this.shape = shape;
        this.started = started;
    }

    /** Starts one in the background (the start is a frame to the agent); a failed start leaves no spare. */
    static SpareInterpreter start(AgentChannel channel, Shape shape) {
        CompletableFuture<Optional<WaitingInterpreter>> started = new CompletableFuture<>();
        Thread.ofVirtual().name("spare-interpreter").start(() -> {
            try {
                started.complete(WaitingInterpreter.startAhead(channel, shape.language(), shape.command(),
                        shape.env(), shape.workDir()));
            } catch (IOException | RuntimeException e) {
                log.debug("a spare interpreter could not be started: {}", e.getMessage());
                started.complete(Optional.empty());
            }
        });
        return new SpareInterpreter(shape, started);
    }

    /**
     * The interpreter, for a call of {@code wanted}'s shape; otherwise (or when it did not start) it is sent away
     * and waited for (briefly), so that it holds none of the session's memory or pids while the call runs.
     */
    Optional<WaitingInterpreter> take(Shape wanted) {
        Optional<WaitingInterpreter> interpreter = await();
        if (interpreter.isPresent() && shape.equals(wanted) && interpreter.get().waiting()) {
            return interpreter;
        }
        interpreter.ifPresent(i -> waitFor(i.discard(DISCARD_GRACE)));
        return Optional.empty();
    }

    /** Sends it away without waiting (file work, a session closing, a call that found others running). */
    void discard() {
        started.thenAccept(i -> i.ifPresent(w -> w.discard(DISCARD_GRACE)));
    }

    private Optional<WaitingInterpreter> await() {
        try {
            return started.get(START_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException | ExecutionException e) {
            discard();
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            discard();
            return Optional.empty();
        }
    }

    private static void waitFor(CompletableFuture<?> end) {
        try {
            end.get(DISCARD_GRACE.toMillis() * 2, TimeUnit.MILLISECONDS);
        } catch (TimeoutException | ExecutionException e) {
            // the agent did not say it ended: the call goes on, the session's limits hold either way
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
