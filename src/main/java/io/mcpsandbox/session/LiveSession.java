package io.mcpsandbox.session;

import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.runtime.PreparedSandbox;
import io.mcpsandbox.runtime.RunningSandbox;
import io.mcpsandbox.runtime.agent.AgentChannel;
import io.mcpsandbox.runtime.agent.AgentLogTail;
import io.mcpsandbox.network.SandboxEgress;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One open session held by this server: its sandbox, the agent's channel into it, and its record as last
 * written. The record changes only under this object's lock, so the store sees each change once, in order.
 */
final class LiveSession {
    private final PreparedSandbox prepared;
    private final RunningSandbox running;
    private final AgentChannel channel;
    private final AgentLogTail agentLog;
    private final Map<String, String> env;
    private final SessionInterpreters interpreters;
    private final SandboxEgress egress;
    private final AtomicBoolean closing = new AtomicBoolean();
    private SessionRecord record;
    private int activeExecutions;
    private SpareInterpreter spare;
    /** Holds taken on it so far (executions and file work): a spare is kept only if none came while it started. */
    private long holds;
    /** The shape of the snippet the last hold ran (null: the last hold was other work). */
    private SpareInterpreter.Shape lastSnippet;
    private boolean idleWarned;
    private boolean lifetimeWarned;

    LiveSession(SessionRecord record, PreparedSandbox prepared, RunningSandbox running, AgentChannel channel,
                AgentLogTail agentLog, Map<String, String> env, SandboxEgress egress) {
        this.egress = egress;
        this.record = record;
        this.prepared = prepared;
        this.running = running;
        this.channel = channel;
        this.agentLog = agentLog;
        this.env = Map.copyOf(env);
        this.interpreters = new SessionInterpreters(channel);
    }

    synchronized SessionRecord record() {
        return record;
    }

    synchronized void update(SessionRecord changed) {
        record = changed;
    }

    String id() {
        return record().sessionId();
    }

    String userId() {
        return record().userId();
    }

    PreparedSandbox prepared() {
        return prepared;
    }

    RunningSandbox running() {
        return running;
    }

    AgentChannel channel() {
        return channel;
    }

    /** Its way out, when it was opened with network. */
    Optional<SandboxEgress> egress() {
        return Optional.ofNullable(egress);
    }

    SessionInterpreters interpreters() {
        return interpreters;
    }

    AgentLogTail agentLog() {
        return agentLog;
    }

    Map<String, String> env() {
        return env;
    }

    /** True for the one caller that gets to close it. */
    boolean startClosing() {
        return closing.compareAndSet(false, true);
    }

    boolean isClosing() {
        return closing.get();
    }

    synchronized void executionStarted() {
        activeExecutions++;
        holds++;
    }

    synchronized void executionEnded() {
        activeExecutions--;
    }

    synchronized int activeExecutions() {
        return activeExecutions;
    }

    /** Takes its spare interpreter, if it has one: whoever takes it uses it or sends it away. */
    synchronized SpareInterpreter takeSpare() {
        SpareInterpreter taken = spare;
        spare = null;
        return taken;
    }

    /**
     * Notes what a hold that ended ran: {@code shape} for a snippet, null for anything else. True when it is the
     * second snippet of that shape in a row (a session that repeats itself: only then a spare is worth its start).
     */
    synchronized boolean ranAgain(SpareInterpreter.Shape shape) {
        boolean again = shape != null && shape.equals(lastSnippet);
        lastSnippet = shape;
        return again;
    }

    /**
     * Starts a spare interpreter of {@code shape} when nothing runs in it (and it has none, and is open), and keeps
     * it only if nothing took a hold on the session while it was being started (then it is sent away).
     */
    void startSpare(SpareInterpreter.Shape shape) {
        long seen;
        synchronized (this) {
            if (activeExecutions > 0 || isClosing() || spare != null) {
                return;
            }
            seen = holds;
        }
        // Started outside the lock (a frame to the agent); kept only if no hold came meanwhile.
        SpareInterpreter started = SpareInterpreter.start(channel, shape).orElse(null);
        if (started == null) {
            return;
        }
        synchronized (this) {
            if (holds == seen && activeExecutions == 0 && !isClosing() && spare == null) {
                spare = started;
                return;
            }
        }
        started.discard();
    }

    /** Whether the idle warning is due for the first time (then it is marked sent). */
    synchronized boolean warnIdleOnce() {
        boolean first = !idleWarned;
        idleWarned = true;
        return first;
    }

    /** Activity moves the idle end: a later approach to it is warned of again. */
    synchronized void resetIdleWarning() {
        idleWarned = false;
    }

    synchronized boolean warnLifetimeOnce() {
        boolean first = !lifetimeWarned;
        lifetimeWarned = true;
        return first;
    }
}
