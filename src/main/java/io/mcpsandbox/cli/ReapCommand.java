package io.mcpsandbox.cli;

import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.execution.SandboxServices;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Run by the owner watchdog (runtime/OwnerWatchdog) when the JVM that started sandboxes has died: removes
 * what dead owners left and closes their records. Hidden: a person never needs it (every command that runs
 * sandboxes does the same at start), but it is safe to run at any time, since live owners' sandboxes are
 * left alone.
 */
@Command(name = "reap", hidden = true, mixinStandardHelpOptions = true,
        description = "Removes sandboxes whose owner process died and closes their records.")
final class ReapCommand implements Callable<Integer> {
    @Option(names = "--owner-pid", paramLabel = "PID",
            description = "Wait first until this process has exited (up to 60 s): its locks are then free.")
    Long ownerPid;

    @Override
    public Integer call() throws InterruptedException {
        if (ownerPid != null) {
            long until = System.nanoTime() + 60_000_000_000L;
            while (alive(ownerPid) && System.nanoTime() < until) {
                Thread.sleep(50);
            }
        }
        SandboxConfig config = Main.config();
        if (!Files.isDirectory(config.dataDir()) && !Files.isDirectory(config.stateDir())) {
            // Both gone (removed after their owner closed): nothing can be left there, and starting the services
            // would only make them again, empty.
            return 0;
        }
        try (SandboxServices services = new SandboxServices(config)) {
            List<String> closed = services.recoverFromCrash(SandboxServices.OWNER_DIED);
            if (!closed.isEmpty()) {
                System.err.println("mcp-sandbox reap: closed " + closed.size() + " execution(s) whose process died"
                        + (ownerPid == null ? "" : " (pid " + ownerPid + ")") + ": " + String.join(", ", closed));
            }
        }
        return 0;
    }

    /** Running or stopped, not a zombie: a zombie's files (its owner locks) are already closed. */
    private static boolean alive(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String state = stat.substring(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
            return !state.equals("Z") && !state.equals("X");
        } catch (java.io.IOException | RuntimeException gone) {
            return false;
        }
    }
}
