package io.mcpsandbox.session;

import io.mcpsandbox.config.LanguageSpec;
import io.mcpsandbox.host.CgroupReader;
import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.runtime.agent.AgentChannel;
import io.mcpsandbox.pool.WaitingInterpreter;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One execution's hold on a session: what it runs in (the agent's channel, the session's environment and
 * limits) and how it reports back. {@link #close} ends the hold; it must be called once, whatever happened.
 */
public final class SessionLease implements AutoCloseable {
    private final SessionService sessions;
    private final LiveSession session;
    private SpareInterpreter spare;
    private SpareInterpreter.Shape next;
    private boolean closed;

    SessionLease(SessionService sessions, LiveSession session, SpareInterpreter spare) {
        this.sessions = sessions;
        this.session = session;
        this.spare = spare;
    }

    public String sessionId() {
        return session.id();
    }

    public String runtime() {
        return session.record().runtime();
    }

    public String image() {
        return session.record().image();
    }

    public SecurityLevel securityLevel() {
        return session.record().securityLevel();
    }

    /** The sandbox's limits (memory, CPUs, pids; timeout and output are the per-execution defaults). */
    public ResourceLimits limits() {
        return session.record().limits();
    }

    /** The session's environment; an execution's own variables go on top. */
    public Map<String, String> env() {
        return session.env();
    }

    /** The session's way out, when it was opened with network: its executions' bytes and refusals. */
    public java.util.Optional<io.mcpsandbox.network.SandboxEgress> egress() {
        return session.egress();
    }

    public AgentChannel channel() {
        return session.channel();
    }

    /**
     * The session's persistent interpreter for the snippet language {@code spec} (python or node: check with
     * {@link KernelLanguage#of} first), made on first use and kept until the session closes. It runs the
     * interpreter an ordinary snippet of the language runs (argv[0] of its configured command).
     *
     * @throws IllegalArgumentException the language has no persistent interpreter
     */
    public Interpreter interpreter(LanguageSpec spec) {
        KernelLanguage language = KernelLanguage.of(spec).orElseThrow(() -> new IllegalArgumentException(
                "'" + spec.name() + "' has no persistent interpreter (python and node have)"));
        return session.interpreters().get(language, spec.command().get(0));
    }

    /** The sandbox's cgroup so far (CPU and peak memory of everything that ran in the session). */
    public CgroupReader.Usage usage() {
        return session.running().usage();
    }

    /** The agent's last log lines, for a message about a lost agent. */
    public String agentLog() {
        return session.agentLog().describe();
    }

    /**
     * The host gives up on the session: its sandbox is killed and the session closed as failed, with
     * {@code why}. For an agent that broke its channel, or did not end a program the host asked it to kill.
     */
    public void fail(String why) {
        sessions.fail(session, why);
    }

    /**
     * This hold runs a snippet of {@code language} as {@code command} with {@code env} in {@code workDir}: the
     * session's spare interpreter when it waits for exactly that and nothing ran in the session since it started
     * (then it is this execution's to release; a spare of another shape is sent away). After the second such
     * snippet in a row, a spare of this shape is started once the hold ends and nothing else runs in the session
     * (session.spare-interpreters). Once per lease.
     */
    public Optional<WaitingInterpreter> snippet(String language, List<String> command, Map<String, String> env,
                                                String workDir) {
        next = new SpareInterpreter.Shape(language, command, env, workDir);
        SpareInterpreter taken = spare;
        spare = null;
        return taken == null ? Optional.empty() : taken.take(next);
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (spare != null) {
                spare.discard();
                spare = null;
            }
            sessions.release(session, next);
        }
    }
}
