package io.mcpsandbox.runtime;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A small detached process that outlives this JVM: started before this process's first sandbox, it waits on
 * a pipe whose only writer is this JVM. When the JVM dies (even by SIGKILL) the pipe reads end-of-file and the
 * watchdog runs {@code reapCommand}, which removes the sandboxes of dead owners (their owner locks are free)
 * and closes their records, so a sandbox's deadline holds even when the process that started it is gone. On a
 * normal exit this JVM writes "stop" and the watchdog ends without starting anything.
 *
 * <p>The watchdog is a shell blocked in its {@code read} builtin (no JVM on the hot path), in a session of its
 * own (setsid: a Ctrl-C or hang-up sent to the CLI's terminal does not reach it), with stdin the pipe,
 * stdout/stderr appended to a log file, the working directory {@code /}, and only the environment given.
 */
public final class OwnerWatchdog implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(OwnerWatchdog.class);
    /** $1.. is the reaper's argv; it runs only when the line read is not "stop" (end-of-file: the owner died). */
    static final String SCRIPT = "read -r line; [ \"$line\" = stop ] && exit 0; exec \"$@\"";
    private static final String DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private final boolean enabled;
    private final List<String> reapCommand;
    private final Map<String, String> env;
    private final Path logFile;
    private Process process;
    private boolean closed;

    /**
     * @param reapCommand the reaper's argv, run when this JVM has died (it is told this JVM's pid)
     * @param env         the whole environment of the watchdog and the reaper (PATH is added when missing)
     * @param logFile     where the watchdog's and the reaper's output goes (created 0600)
     */
    public OwnerWatchdog(boolean enabled, List<String> reapCommand, Map<String, String> env, Path logFile) {
        this.enabled = enabled;
        this.reapCommand = List.copyOf(reapCommand);
        this.env = Map.copyOf(env);
        this.logFile = logFile;
    }

    /** The argv that runs {@code mainClass args...} in a JVM like this one (same java, same class path). */
    public static List<String> thisJvm(String mainClass, String... args) {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // Absolute entries: the watchdog runs in '/', and `java -jar target/x.jar` has a relative class path.
        List<String> classPath = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            if (!entry.isEmpty()) {
                classPath.add(Path.of(entry).toAbsolutePath().toString());
            }
        }
        List<String> argv = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-cp", String.join(File.pathSeparator, classPath),
                mainClass));
        argv.addAll(List.of(args));
        return argv;
    }

    /**
     * Starts the watchdog unless it runs already. Called before every sandbox; costs one fork/exec the first
     * time. A failure is logged, not thrown: the next entry point to start still reaps what a death left.
     */
    public synchronized void ensureStarted() {
        if (!enabled || closed || (process != null && process.isAlive())) {
            return;
        }
        long t0 = System.nanoTime();
        List<String> argv = new ArrayList<>();
        setsid().ifPresent(s -> argv.add(s.toString()));
        argv.addAll(List.of("/bin/sh", "-c", SCRIPT, "mcp-sandbox-watchdog"));
        argv.addAll(reapCommand);
        argv.addAll(List.of("--owner-pid", Long.toString(ProcessHandle.current().pid())));
        ProcessBuilder pb = new ProcessBuilder(argv).directory(new File("/"));
        pb.environment().clear();
        pb.environment().putAll(env);
        pb.environment().putIfAbsent("PATH", DEFAULT_PATH);
        try {
            Files.createDirectories(logFile.getParent());
            if (!Files.exists(logFile)) {
                Files.createFile(logFile,
                        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            }
            pb.redirectInput(ProcessBuilder.Redirect.PIPE).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
            process = pb.start();
            log.debug("owner watchdog started: pid {} in {} us", process.pid(), (System.nanoTime() - t0) / 1000);
        } catch (IOException | RuntimeException e) {
            log.warn("the owner watchdog did not start ({}): if this process dies, its sandboxes run until the next "
                    + "mcp-sandbox command starts", e.getMessage());
        }
    }

    /** The watchdog's pid while it runs. */
    public synchronized Optional<Long> pid() {
        return process != null && process.isAlive() ? Optional.of(process.pid()) : Optional.empty();
    }

    /**
     * Ends the watchdog. {@code clean}: every sandbox of this process is gone, so it ends without reaping;
     * otherwise it reaps what is left as soon as this JVM exits (its pipe then reads end-of-file).
     */
    public synchronized void stop(boolean clean) {
        closed = true;
        if (process == null) {
            return;
        }
        try (OutputStream in = process.getOutputStream()) {
            if (clean) {
                in.write("stop\n".getBytes(StandardCharsets.US_ASCII));
            }
        } catch (IOException e) {
            log.debug("owner watchdog already gone: {}", e.getMessage());
        }
        // Not waited for: a reaper started now would wait for this JVM to exit first.
    }

    @Override
    public void close() {
        stop(true);
    }

    private static Optional<Path> setsid() {
        for (Path dir : List.of(Path.of("/usr/bin"), Path.of("/bin"), Path.of("/usr/sbin"), Path.of("/sbin"))) {
            Path candidate = dir.resolve("setsid");
            if (Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }
}
