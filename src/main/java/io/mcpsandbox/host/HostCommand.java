package io.mcpsandbox.host;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs a host tool (runc, mount, docker...) to completion. Its environment is only PATH: the server's
 * own environment (which may hold API keys) never reaches a runtime process.
 */
public final class HostCommand {
    public static final String HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public record Result(int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }

        /** The most useful one-line reason for a failure. */
        public String message() {
            String text = stderr.isBlank() ? stdout : stderr;
            return text.strip().isEmpty() ? "exit code " + exitCode : text.strip();
        }
    }

    private HostCommand() {
    }

    /**
     * A ProcessBuilder whose environment holds nothing but PATH, for a program found on {@link #HOST_PATH}.
     * ProcessBuilder itself would search the server's own PATH, which may put anything first.
     */
    public static ProcessBuilder builder(List<String> argv) {
        List<String> resolved = new java.util.ArrayList<>(argv);
        resolved.set(0, resolve(argv.getFirst()));
        ProcessBuilder pb = new ProcessBuilder(resolved);
        Map<String, String> env = pb.environment();
        env.clear();
        env.put("PATH", HOST_PATH);
        return pb;
    }

    /** {@link #resolve}, or empty when the program is not installed. */
    public static Optional<Path> find(String program) {
        try {
            return Optional.of(Path.of(resolve(program)));
        } catch (IllegalArgumentException notInstalled) {
            return Optional.empty();
        }
    }

    /** The absolute path of a program: itself if absolute, else the first executable match on HOST_PATH. */
    public static String resolve(String program) {
        if (program.contains("/")) {
            return program;
        }
        for (String dir : HOST_PATH.split(":")) {
            Path candidate = Path.of(dir, program);
            if (Files.isExecutable(candidate)) {
                return candidate.toString();
            }
        }
        throw new IllegalArgumentException(program + " is not installed (not found on " + HOST_PATH + ")");
    }

    public static Result run(List<String> argv, Duration timeout) throws IOException {
        ProcessBuilder pb;
        try {
            pb = builder(argv);
        } catch (IllegalArgumentException notInstalled) {
            throw new IOException(notInstalled.getMessage(), notInstalled);
        }
        Process process = pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        CompletableFuture<String> out = readAsync(process.getInputStream());
        CompletableFuture<String> err = readAsync(process.getErrorStream());
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
                throw new IOException(String.join(" ", argv) + " did not finish within " + timeout.toSeconds() + "s");
            }
            return new Result(process.exitValue(), out.join(), err.join());
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + argv.getFirst(), e);
        }
    }

    /** Runs a command and returns its stdout, or throws with its stderr when it fails. */
    public static String check(List<String> argv, Duration timeout) throws IOException {
        Result r = run(argv, timeout);
        if (!r.ok()) {
            throw new IOException(String.join(" ", argv) + " failed: " + r.message());
        }
        return r.stdout();
    }

    /** On a platform thread: blocking native pipe I/O would pin a virtual thread's carrier. */
    private static CompletableFuture<String> readAsync(InputStream in) {
        return CompletableFuture.supplyAsync(() -> {
            try (in) {
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "";
            }
        }, task -> Thread.ofPlatform().daemon().name("host-command-output").start(task));
    }
}
