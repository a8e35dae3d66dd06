package io.mcpsandbox.execution;

import io.mcpsandbox.model.SecurityLevel;
import java.time.Instant;

/** An execution between its start and its result: what can be listed and terminated. */
public final class ActiveExecution {
    private final String executionId;
    private final String userId;
    private final String sessionId;
    private volatile String runtime;
    private volatile SecurityLevel securityLevel;
    private volatile String image;
    private final Instant startedAt;
    /** Kills what runs for this execution: its sandbox, or in a session its program's process group. */
    private volatile Runnable killer;
    private volatile boolean terminated;
    private volatile boolean timedOut;

    ActiveExecution(String executionId, String userId, String sessionId, String runtime, SecurityLevel securityLevel,
                    String image, Instant startedAt) {
        this.executionId = executionId;
        this.userId = userId;
        this.sessionId = sessionId;
        this.runtime = runtime;
        this.securityLevel = securityLevel;
        this.image = image;
        this.startedAt = startedAt;
    }

    public String executionId() { return executionId; }
    public String userId() { return userId; }
    public String sessionId() { return sessionId; }
    public String runtime() { return runtime; }
    public SecurityLevel securityLevel() { return securityLevel; }
    public String image() { return image; }
    public Instant startedAt() { return startedAt; }

    /** What policy chose, once it has. */
    void resolved(String runtimeName, SecurityLevel level, String imageName) {
        runtime = runtimeName;
        securityLevel = level;
        image = imageName;
    }

    boolean terminated() {
        return terminated;
    }

    boolean timedOut() {
        return timedOut;
    }

    void started(Runnable kill) {
        killer = kill;
        if (terminated) {
            kill.run(); // terminate arrived while the sandbox was starting
        }
    }

    void timeOut() {
        timedOut = true;
        kill();
    }

    void terminate() {
        terminated = true;
        kill();
    }

    /** Whether the program must die (terminated or timed out): the kill is repeated until it has. */
    boolean killRequested() {
        return terminated || timedOut;
    }

    void kill() {
        Runnable k = killer;
        if (k != null) {
            k.run();
        }
    }
}
