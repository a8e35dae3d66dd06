package io.mcpsandbox.runtime;

/**
 * How a sandboxed program ended.
 *
 * @param exitCode      its exit status; 128+N for death by signal N; null if it never ran
 * @param oomKilled     the kernel's OOM killer acted inside the sandbox's memory limit
 * @param pidsLimitHit  a fork or clone was refused by the pids limit
 * @param failure       set when the runtime itself failed (the program may never have run)
 */
public record SandboxExit(Integer exitCode, long cpuMillis, long peakMemoryBytes, boolean oomKilled,
                          boolean pidsLimitHit, String failure) {
    public static SandboxExit failed(String failure) {
        return new SandboxExit(null, 0, 0, false, false, failure);
    }
}
