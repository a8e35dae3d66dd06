package io.mcpsandbox.execution;

import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.runtime.SandboxExit;

/**
 * How a sandbox run ended, as the result reports it. Pure: it only reads the facts it is given.
 *
 * @param exitCode the program's exit status as the runtime saw it (128+N for death by signal N), kept whatever
 *                 the status: a timed-out program killed by SIGKILL reports 137
 * @param reason   a short explanation; null for completed
 */
record ExitClassification(ExecutionStatus status, Integer exitCode, String reason) {
    /** The exit status of a program killed by SIGKILL, as the kernel's OOM killer does. */
    static final int SIGKILL_EXIT = 128 + 9;

    /**
     * What the service did to the run comes first (terminate, then the deadline, then the output cap: each
     * killed the program, so its exit says nothing of its own), then the runtime's failure, then the
     * kernel's OOM kill. A program that ends any other way completed, whatever its exit code.
     *
     * @param terminated     terminate was requested
     * @param timedOut       the deadline passed and the sandbox was killed
     * @param outputLimitHit the output exceeded its cap and the sandbox was killed
     */
    static ExitClassification of(SandboxExit exit, boolean terminated, boolean timedOut, boolean outputLimitHit,
                                  ResourceLimits limits) {
        Integer exitCode = exit.exitCode();
        if (terminated) {
            return new ExitClassification(ExecutionStatus.TERMINATED, exitCode, "terminated on request");
        }
        if (timedOut) {
            return new ExitClassification(ExecutionStatus.TIMEOUT, exitCode, "exceeded the timeout of "
                    + limits.timeout().toMillis() + " ms; every process was killed");
        }
        if (outputLimitHit) {
            return new ExitClassification(ExecutionStatus.OUTPUT_LIMIT, exitCode, "output exceeded "
                    + limits.outputBytes() + " bytes; the sandbox was killed");
        }
        if (exit.failure() != null) {
            return new ExitClassification(ExecutionStatus.ERROR, exitCode, exit.failure());
        }
        // The OOM killer may have killed only a child; the run was OOM-killed when the program itself died of it.
        if (exit.oomKilled() && exitCode != null && exitCode == SIGKILL_EXIT) {
            return new ExitClassification(ExecutionStatus.OOM_KILLED, exitCode,
                    "killed for exceeding the memory limit of " + limits.memoryBytes() + " bytes");
        }
        return new ExitClassification(ExecutionStatus.COMPLETED, exitCode, null);
    }
}
