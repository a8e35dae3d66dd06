package io.mcpsandbox.bench;

import io.mcpsandbox.model.DlpMode;
import io.mcpsandbox.model.SecurityEvent;
import io.mcpsandbox.scan.OutputScanner;
import io.mcpsandbox.scan.ScanOutcome;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;
import java.util.UUID;

/**
 * Throughput of {@link OutputScanner} on realistic mixed output (a program, not a test; run by bench/scan.sh).
 *
 * <p>Builds {@code --size-mib} (default 10) MiB of program output: log lines with timestamps, hex digests, git
 * commit ids and UUIDs, JSON records, prose, stack traces, tables of numbers and floats, base64 of text, and a few
 * secrets sprinkled in (about one per 1000 lines). Then, for each mode, runs {@code --warmup} untimed and
 * {@code --runs} timed scans of the whole output (one thread, as one execution would) and prints median and p95
 * (nearest rank) wall-clock milliseconds and MiB/s at the median.
 *
 * <p>With {@code --ansi}, every line is coloured as a terminal logger would ({@code ESC[32m} ... {@code ESC[0m}),
 * which makes every stream take the scanner's normalising path (scanned as printed and without the escapes).
 *
 * <p>usage: ScanBenchmark [--size-mib N] [--runs N] [--warmup N] [--stderr-share 0.2] [--ansi]
 */
public final class ScanBenchmark {
    private ScanBenchmark() {
    }

    public static void main(String[] args) {
        int sizeMib = 10;
        int runs = 30;
        int warmup = 15;
        double stderrShare = 0.0;
        boolean ansi = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--size-mib" -> sizeMib = Integer.parseInt(args[++i]);
                case "--runs" -> runs = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--stderr-share" -> stderrShare = Double.parseDouble(args[++i]);
                case "--ansi" -> ansi = true;
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + " (known: --size-mib N --runs N --warmup N --stderr-share F --ansi)");
            }
        }
        int total = sizeMib << 20;
        int errChars = (int) (total * stderrShare);
        String stdout = output(total - errChars, new Random(1));
        String stderr = output(errChars, new Random(2));
        if (ansi) {
            stdout = coloured(stdout);
            stderr = coloured(stderr);
        }
        OutputScanner scanner = new OutputScanner();

        System.out.printf(Locale.ROOT, "ScanBenchmark: %d chars (%.1f MiB) of mixed output (stdout %d, stderr %d); "
                        + "%d warm-up + %d timed runs per mode; %d CPUs; %s %s%n",
                stdout.length() + stderr.length(), (stdout.length() + stderr.length()) / 1048576.0, stdout.length(),
                stderr.length(), warmup, runs, Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.vm.name"), System.getProperty("java.version"));
        ScanOutcome sample = scanner.scan(stdout, stderr, DlpMode.REPORT);
        StringBuilder found = new StringBuilder();
        for (SecurityEvent e : sample.events()) {
            found.append(found.isEmpty() ? "" : ", ").append(e.type()).append('=').append(e.details().get("count"));
        }
        System.out.println("findings: " + found);
        System.out.println();
        System.out.println("| mode | median ms | p95 ms | min ms | MiB/s (median) |");
        System.out.println("|---|---:|---:|---:|---:|");
        long sink = 0;
        for (DlpMode mode : DlpMode.values()) {
            for (int i = 0; i < warmup; i++) {
                sink += scanner.scan(stdout, stderr, mode).events().size();
            }
            long[] nanos = new long[runs];
            for (int i = 0; i < runs; i++) {
                long t0 = System.nanoTime();
                ScanOutcome outcome = scanner.scan(stdout, stderr, mode);
                nanos[i] = System.nanoTime() - t0;
                sink += outcome.stdout().length() + outcome.events().size();
            }
            Arrays.sort(nanos);
            double median = ms(nanos[(runs - 1) / 2]);
            double p95 = ms(nanos[(int) Math.ceil(0.95 * runs) - 1]);
            double mibPerSecond = (stdout.length() + stderr.length()) / 1048576.0 / (median / 1000.0);
            System.out.printf(Locale.ROOT, "| %s | %.1f | %.1f | %.1f | %.0f |%n", mode.wireName(), median, p95,
                    ms(nanos[0]), mibPerSecond);
        }
        if (sink == 42) {
            System.out.println(); // keeps the JIT from discarding the work
        }
    }

    private static double ms(long nanos) {
        return nanos / 1_000_000.0;
    }

    /** About {@code chars} characters of output, cut at a line end. */
    static String output(int chars, Random random) {
        StringBuilder sb = new StringBuilder(chars + 512);
        long epochMs = 1_732_700_000_000L;
        int line = 0;
        while (sb.length() < chars) {
            line++;
            epochMs += random.nextInt(50);
            switch (random.nextInt(10)) {
                case 0, 1, 2 -> sb.append("2026-11-28T01:").append(two(random.nextInt(60))).append(':')
                        .append(two(random.nextInt(60))).append('.').append(random.nextInt(1000)).append("Z INFO  ")
                        .append("[worker-").append(random.nextInt(8)).append("] request ").append(UUID.randomUUID())
                        .append(" served in ").append(random.nextInt(900)).append(" ms, status 200, bytes ")
                        .append(random.nextInt(1 << 20)).append('\n');
                case 3 -> sb.append("commit ").append(hex(random, 40))
                        .append("\nAuthor: Dev Eloper <dev@example.com>\n")
                        .append("    fix flaky test in module ").append(random.nextInt(100)).append('\n');
                case 4 -> sb.append("{\"id\":\"").append(UUID.randomUUID()).append("\",\"ts\":").append(epochMs)
                        .append(",\"user\":\"user").append(random.nextInt(10000)).append("\",\"sha256\":\"")
                        .append(hex(random, 64)).append("\",\"score\":").append(random.nextDouble())
                        .append(",\"tags\":[\"alpha\",\"beta\"],\"ok\":true}\n");
                case 5 -> sb.append("The sandbox ran the analysis over ").append(random.nextInt(5000))
                        .append(" records and found that most of them were well formed; the remaining ones were "
                                + "logged for a later review by the operations team.\n");
                case 6 -> sb.append("\tat io.mcpsandbox.execution.ExecutionService.execute(ExecutionService.java:")
                        .append(random.nextInt(400)).append(")\n\tat java.base/java.util.concurrent.ThreadPoolExecutor"
                                + ".runWorker(ThreadPoolExecutor.java:1144)\n");
                case 7 -> {
                    for (int k = 0; k < 8; k++) {
                        sb.append(String.format(Locale.ROOT, "%10.6f ", random.nextGaussian() * 100));
                    }
                    sb.append(random.nextInt(100000)).append(' ').append(random.nextLong() & 0xffffffffL).append('\n');
                }
                case 8 -> sb.append("md5 ").append(hex(random, 32)).append("  ./build/libs/artifact-")
                        .append(random.nextInt(10)).append(".jar\nsha1 ").append(hex(random, 40)).append('\n');
                default -> sb.append("payload: ").append(java.util.Base64.getEncoder().encodeToString(
                        ("event " + line + " processed by node " + random.nextInt(64) + " without errors")
                                .getBytes(java.nio.charset.StandardCharsets.UTF_8))).append('\n');
            }
            if (line % 1000 == 0) {
                sb.append(switch (random.nextInt(5)) {
                    case 0 -> "aws_access_key_id = AKIA" + upperAlnum(random, 16) + "\n";
                    case 1 -> "card 4111 1111 1111 1111 charged\n";
                    case 2 -> "ssn 078-05-1120 on record\n";
                    case 3 -> "token ghp_" + alnum(random, 36) + "\n";
                    default -> "api_key=" + alnum(random, 40) + "\n";
                });
            }
        }
        return sb.toString();
    }

    /** Each line wrapped in a colour escape and a reset, like a coloured log. */
    static String coloured(String text) {
        StringBuilder sb = new StringBuilder(text.length() + text.length() / 6);
        int from = 0;
        int colour = 0;
        while (from < text.length()) {
            int nl = text.indexOf('\n', from);
            int end = nl < 0 ? text.length() : nl;
            sb.append("\u001b[").append(31 + colour++ % 6).append('m').append(text, from, end).append("\u001b[0m");
            if (nl >= 0) {
                sb.append('\n');
            }
            from = end + 1;
        }
        return sb.toString();
    }

    private static String two(int v) {
        return v < 10 ? "0" + v : Integer.toString(v);
    }

    private static String hex(Random random, int n) {
        StringBuilder sb = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            sb.append("0123456789abcdef".charAt(random.nextInt(16)));
        }
        return sb.toString();
    }

    private static String alnum(Random random, int n) {
        String a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        StringBuilder sb = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            sb.append(a.charAt(random.nextInt(a.length())));
        }
        return sb.toString();
    }

    private static String upperAlnum(Random random, int n) {
        String a = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        StringBuilder sb = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            sb.append(a.charAt(random.nextInt(a.length())));
        }
        return sb.toString();
    }
}
