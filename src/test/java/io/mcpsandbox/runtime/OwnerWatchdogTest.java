package io.mcpsandbox.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The watchdog process itself, with a stand-in reaper that only writes what it was started with. */
class OwnerWatchdogTest {
    @TempDir
    Path dir;

    private OwnerWatchdog watchdog(Path out, boolean enabled) {
        // argv: sh -c '...' reaper --owner-pid N  ->  writes "reaper --owner-pid N" and its environment.
        List<String> reaper = List.of("/bin/sh", "-c", "echo \"$0 $*\" > " + out + "; env >> " + out, "reaper");
        return new OwnerWatchdog(enabled, reaper, Map.of("MCP_SANDBOX_DATA_DIR", "/x"), dir.resolve("watchdog.log"));
    }

    @Test
    void aCleanStopEndsTheWatchdogWithoutReaping() throws Exception {
        Path out = dir.resolve("reaped");
        OwnerWatchdog w = watchdog(out, true);
        w.ensureStarted();
        long pid = w.pid().orElseThrow();
        w.ensureStarted();
        assertThat(w.pid()).as("one watchdog per process").contains(pid);
        // Right after start() the child may still be the JDK's spawn helper, before setsid has run.
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(session(pid)).as("a session of its own").isEqualTo(pid));
        assertThat(Files.getPosixFilePermissions(dir.resolve("watchdog.log")))
                .isEqualTo(PosixFilePermissions.fromString("rw-------"));

        w.stop(true);
        await().atMost(Duration.ofSeconds(10)).until(() -> ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true));
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5))
                .untilAsserted(() -> assertThat(out).as("no reaper ran").doesNotExist());
    }

    @Test
    void endOfFileOnItsPipeRunsTheReaperWithOnlyTheGivenEnvironment() throws Exception {
        Path out = dir.resolve("reaped");
        OwnerWatchdog w = watchdog(out, true);
        w.ensureStarted();
        long pid = w.pid().orElseThrow();
        // What the kernel does when this JVM dies: the write end closes without "stop".
        w.stop(false);
        await().atMost(Duration.ofSeconds(10))
                .until(() -> Files.exists(out) && Files.readString(out).contains("PATH="));
        String reaped = Files.readString(out);
        assertThat(reaped).startsWith("reaper --owner-pid " + ProcessHandle.current().pid() + "\n");
        assertThat(reaped).contains("MCP_SANDBOX_DATA_DIR=/x").contains("PATH=");
        assertThat(reaped.lines().filter(l -> l.contains("=")).map(l -> l.substring(0, l.indexOf('=')))
                .filter(k -> !List.of("MCP_SANDBOX_DATA_DIR", "PATH", "PWD", "SHLVL", "_", "OLDPWD").contains(k))
                .toList())
                .as("nothing inherited from this JVM's environment").isEmpty();
        await().atMost(Duration.ofSeconds(10)).until(() -> ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true));
    }

    @Test
    void aDisabledWatchdogStartsNothing() {
        OwnerWatchdog w = watchdog(dir.resolve("reaped"), false);
        w.ensureStarted();
        assertThat(w.pid()).isEmpty();
        w.close();
    }

    private static long session(long pid) throws Exception {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[3]);
    }
}
