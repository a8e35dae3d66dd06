package io.mcpsandbox.bench;

import io.mcpsandbox.config.ConfigLoader;
import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.execution.SandboxServices;
import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;

/**
 * What one cold execution costs the host in CPU and in tasks, not in latency: python {@code print(1)} (or
 * {@code true}) run one after another through the in-process API, teardown awaited, and for each runtime the
 * CPU of this JVM (user + sys), of its reaped children (the runtime binaries, their helpers, the sandbox), of
 * the whole machine, and the tasks (processes and threads) the machine created, each divided by the
 * executions. A program, not a test: {@code bench/cost.sh}. Needs root, runc, runsc and the agent.
 *
 * <p>The machine-wide figures include whatever else runs meanwhile; the load average is printed with them.
 * Exact counts of the programs spawned per execution come from running this under
 * {@code strace -f -e trace=execve} (bench/cost.sh --execs).
 */
public final class SandboxCostBenchmark {
    private static final long CLOCK_TICKS = 100; // USER_HZ on Linux

    private SandboxCostBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int iterations = 50;
        int warmup = 10;
        List<String> runtimes = List.of("runc", "runsc");
        List<String> command = List.of("python3", "-c", "print(1)");
        PerfControl perf = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--iterations" -> iterations = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--runtimes" -> runtimes = List.of(args[++i].split(","));
                case "--true" -> command = List.of("true");
                case "--perf-control" -> perf = PerfControl.open(args[++i]);
                default -> throw new IllegalArgumentException("usage: SandboxCostBenchmark [--iterations N] "
                        + "[--warmup N] [--runtimes runc,runsc] [--true] [--perf-control CTL_FIFO,ACK_FIFO]");
            }
        }
        String runId = UUID.randomUUID().toString().substring(0, 8);
        Path dataDir = Path.of("/tmp", "mcp-cost-" + runId);
        Path stateDir = Path.of("/run", "mcp-cost-" + runId);
        Files.createDirectories(dataDir);
        Files.setPosixFilePermissions(dataDir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.createDirectories(stateDir);
        Map<String, String> env = new HashMap<>();
        env.put(ConfigLoader.ENV_DATA_DIR, dataDir.toString());
        env.put("MCP_SANDBOX_STATE_DIR", stateDir.toString());
        String agent = System.getenv("MCP_SANDBOX_SANDBOX_AGENT");
        env.put("MCP_SANDBOX_SANDBOX_AGENT",
                agent != null ? agent : Path.of("agent/build/mcp-agent").toAbsolutePath().toString());
        SandboxConfig config = new ConfigLoader(env).load();
        try (SandboxServices services = new SandboxServices(config)) {
            System.out.printf(Locale.ROOT, "%s, %d executions per runtime after %d warm-ups, load %s%n",
                    String.join(" ", command), iterations, warmup, Files.readString(Path.of("/proc/loadavg")).strip());
            System.out.println("runtime  wall/exec  (teardown)  jvm-cpu/exec  children-cpu/exec  host-cpu/exec  "
                    + "host-tasks/exec");
            for (String runtime : runtimes) {
                ExecutionRequest request = ExecutionRequest.builder().runtime(runtime).command(command).build();
                for (int i = 0; i < warmup; i++) {
                    runOne(services, request);
                }
                if (perf != null) {
                    perf.send("enable");
                }
                teardownNanos = 0;
                Snapshot before = Snapshot.take();
                for (int i = 0; i < iterations; i++) {
                    runOne(services, request);
                }
                Snapshot after = Snapshot.take();
                if (perf != null) {
                    perf.send("disable");
                }
                double n = iterations;
                System.out.printf(Locale.ROOT, "%-7s  %6.1f ms  (%5.1f ms)  %9.1f ms  %14.1f ms  %10.1f ms  %12.1f%n",
                        runtime, (after.wallNanos - before.wallNanos) / 1e6 / n, teardownNanos / 1e6 / n,
                        (after.selfTicks - before.selfTicks) * 1000.0 / CLOCK_TICKS / n,
                        (after.childTicks - before.childTicks) * 1000.0 / CLOCK_TICKS / n,
                        (after.hostBusyTicks - before.hostBusyTicks) * 1000.0 / CLOCK_TICKS / n,
                        (after.hostTasks - before.hostTasks) / n);
            }
        } finally {
            DeleteTree.deleteQuietly(dataDir);
            DeleteTree.deleteQuietly(stateDir);
        }
    }

    /** Nanoseconds spent awaiting teardowns (off the request's path, but CPU and wall all the same). */
    private static long teardownNanos;

    private static void runOne(SandboxServices services, ExecutionRequest request) {
        ExecutionResult r = services.executions().execute(request);
        if (r.status() != ExecutionStatus.COMPLETED || r.exitCode() == null || r.exitCode() != 0) {
            throw new IllegalStateException(r.status() + " exit " + r.exitCode() + " stderr=" + r.stderr().strip()
                    + " reason=" + r.reason());
        }
        long t0 = System.nanoTime();
        if (!services.executions().awaitTeardowns(Duration.ofSeconds(60))) {
            throw new IllegalStateException("teardown did not finish within 60 s");
        }
        teardownNanos += System.nanoTime() - t0;
    }

    /**
     * perf's control FIFOs ({@code perf stat|record --control fifo:CTL,ACK -D -1}): the measured loop alone is
     * counted, with every process and thread it starts, however they are reaped.
     */
    private record PerfControl(java.io.OutputStream ctl, java.io.InputStream ack) {
        static PerfControl open(String fifos) throws IOException {
            String[] p = fifos.split(",");
            return new PerfControl(new java.io.FileOutputStream(p[0]), new java.io.FileInputStream(p[1]));
        }

        void send(String command) throws IOException {
            ctl.write((command + "\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            ctl.flush();
            ack.readNBytes(5); // "ack\n\0"
        }
    }

    /** This process's and its reaped children's CPU ticks, the machine's busy ticks and tasks created. */
    private record Snapshot(long wallNanos, long selfTicks, long childTicks, long hostBusyTicks, long hostTasks) {
        static Snapshot take() throws IOException {
            // /proc/self/stat: fields after the command's closing parenthesis; utime is the 14th field overall.
            String stat = Files.readString(Path.of("/proc/self/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            long self = Long.parseLong(f[11]) + Long.parseLong(f[12]);
            long children = Long.parseLong(f[13]) + Long.parseLong(f[14]);
            long busy = 0;
            long tasks = 0;
            for (String line : Files.readAllLines(Path.of("/proc/stat"))) {
                String[] p = line.split("\\s+");
                if (p[0].equals("cpu")) {
                    for (int i = 1; i < p.length && i <= 8; i++) {
                        if (i != 4 && i != 5) { // idle and iowait
                            busy += Long.parseLong(p[i]);
                        }
                    }
                } else if (p[0].equals("processes")) {
                    tasks = Long.parseLong(p[1]);
                }
            }
            return new Snapshot(System.nanoTime(), self, children, busy, tasks);
        }
    }
}
