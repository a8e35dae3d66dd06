package io.mcpsandbox.pool;

import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.runtime.PreparedSandbox;
import io.mcpsandbox.runtime.RunningSandbox;
import io.mcpsandbox.runtime.agent.AgentChannel;
import io.mcpsandbox.runtime.agent.AgentLogTail;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A sandbox started ahead by a pool: running, its agent's channel open and idle, and for a language pool an
 * interpreter waiting. Nothing of anyone's has run in it. Taken, it serves exactly one execution or one session,
 * and is then closed: never returned to a pool.
 */
public final class WarmSandbox implements AutoCloseable {
    private final PoolKey key;
    private final PreparedSandbox prepared;
    private final RunningSandbox running;
    private final AgentChannel channel;
    private final AgentLogTail agentLog;
    private final RootFilesystem rootfs;
    private final ResourceLimits limits;
    private final WaitingInterpreter interpreter;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Runnable afterClose;
    private volatile long memoryBytes;
    private volatile long cpuNanosAtTake;

    WarmSandbox(PoolKey key, PreparedSandbox prepared, RunningSandbox running, AgentChannel channel,
                AgentLogTail agentLog, RootFilesystem rootfs, ResourceLimits limits, WaitingInterpreter interpreter,
                Runnable afterClose) {
        this.afterClose = afterClose;
        this.key = key;
        this.prepared = prepared;
        this.running = running;
        this.channel = channel;
        this.agentLog = agentLog;
        this.rootfs = rootfs;
        this.limits = limits;
        this.interpreter = interpreter;
    }

    public PoolKey key() {
        return key;
    }

    /** The sandbox's name ({@code mcp-exec-<uuid>}: not an execution's id, since none existed when it started). */
    public String name() {
        return prepared.name();
    }

    public PreparedSandbox prepared() {
        return prepared;
    }

    public RunningSandbox running() {
        return running;
    }

    public AgentChannel channel() {
        return channel;
    }

    public AgentLogTail agentLog() {
        return agentLog;
    }

    RootFilesystem rootfs() {
        return rootfs;
    }

    ResourceLimits limits() {
        return limits;
    }

    /** The interpreter waiting for a snippet's go, for a language pool's sandbox. */
    public Optional<WaitingInterpreter> interpreter() {
        return Optional.ofNullable(interpreter);
    }

    /** Still usable: its agent's channel open and its interpreter, if any, waiting. */
    boolean alive() {
        return !closed.get() && channel.endCause().isEmpty() && (interpreter == null || interpreter.waiting());
    }

    /** Its cgroup's memory as last measured (0 before the first measure). */
    long memoryBytes() {
        return memoryBytes;
    }

    void measureMemory() {
        memoryBytes = running.usage().peakMemoryBytes();
    }

    /** Marks the take: the CPU it used while waiting is not the execution's. */
    void taken() {
        try {
            cpuNanosAtTake = running.usage().cpuNanos();
        } catch (RuntimeException e) {
            cpuNanosAtTake = 0; // unreadable now: the execution's usage then counts from the sandbox's start
        }
    }

    /** The CPU time its cgroup had used when it was taken (subtracted from an execution's usage). */
    public long cpuNanosAtTake() {
        return cpuNanosAtTake;
    }

    /**
     * Ends the agent's channel and removes the sandbox (every process, mount, cgroup), then tells the pool (which
     * refills now: not while the execution it served ran). Idempotent.
     */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            try {
                channel.close();
                prepared.close();
            } finally {
                afterClose.run();
            }
        }
    }
}
