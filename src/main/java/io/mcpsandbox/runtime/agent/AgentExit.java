package io.mcpsandbox.runtime.agent;

/**
 * How a process ended, as the agent claims it: a claim, not a fact the host may enforce limits on (the
 * runtime's own exit status and the cgroup are the facts).
 *
 * @param value the exit code (0 .. 255) or the signal number (1 .. 64)
 */
public record AgentExit(Kind kind, int value) {
    public enum Kind { EXITED, KILLED }

    @Override
    public String toString() {
        return kind == Kind.EXITED ? "exit " + value : "signal " + value;
    }
}
