package io.mcpsandbox.execution;

/** Hears about a running execution, e.g. to send MCP progress notifications. Called from a timer thread. */
@FunctionalInterface
public interface ExecutionListener {
    ExecutionListener NONE = (elapsedMs, outputBytes) -> { };

    void progress(long elapsedMs, long outputBytes);
}
