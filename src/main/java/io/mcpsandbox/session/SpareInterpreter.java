package io.mcpsandbox.session;

import io.mcpsandbox.pool.WaitingInterpreter;
import io.mcpsandbox.runtime.agent.AgentChannel;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
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

    /** What a spare was started for: a call uses it only when its program is exactly this. */
    record Shape(String language, List<String> command, Map<String, String> env, String workDir) {
        Shape {
            command = List.copyOf(command);
            env = Map.copyOf(env);
        }
    }

    private final Shape shape;
    private final WaitingInterpreter interpreter;

    private SpareInterpreter(Shape shape, WaitingInterpreter interpreter) {
        this.shape = shape;
        this.interpreter = interpreter;
    }

    /**
     * Starts one: the start is one frame to the agent, sent from the calling thread as any program's start is.
     * Empty when the language has no starter, or the start could not be sent.
     */
    static Optional<SpareInterpreter> start(AgentChannel channel, Shape shape) {
        try {
            return WaitingInterpreter.startAhead(channel, shape.language(), shape.command(), shape.env(),
                    shape.workDir()).map(i -> new SpareInterpreter(shape, i));
        } catch (IOException | RuntimeException e) {
            log.debug("a spare interpreter could not be started: {}", e.getMessage());
            return Optional.empty();
        }
    }

    /**
     * The interpreter, for a call of {@code wanted}'s shape while it still waits; otherwise it is sent away (it
     * exits at once, as the call starts: not waited for, the session's limits hold for it as for any of its
     * processes).
     */
    Optional<WaitingInterpreter> take(Shape wanted) {
        if (shape.equals(wanted) && interpreter.waiting()) {
            return Optional.of(interpreter);
        }
        discard();
        return Optional.empty();
    }

    /** Sends it away, not waited for (file work, a session closing, a call of another shape or not alone). */
    void discard() {
        interpreter.discard(DISCARD_GRACE);
    }
}
