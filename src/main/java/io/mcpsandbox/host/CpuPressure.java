package io.mcpsandbox.host;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalDouble;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How contended the host's CPUs are: the kernel's pressure stall information ({@code /proc/pressure/cpu}), the share
 * of the last 10 seconds in which some runnable task waited for a CPU. Work the host may skip (a session's spare
 * interpreter) asks it first, so that it runs only on CPU nobody else is waiting for.
 */
public final class CpuPressure {
    /** The first line, e.g. {@code some avg10=5.59 avg60=14.29 avg300=20.72 total=6258800433}. */
    private static final Pattern SOME = Pattern.compile("some avg10=(\\d{1,3}\\.\\d{2}) .*");
    /** The file is a few short lines; more is not the kernel's. */
    private static final int MAX_BYTES = 4096;

    private final Path file;

    public CpuPressure(Path file) {
        this.file = file;
    }

    public static CpuPressure host() {
        return new CpuPressure(Path.of("/proc/pressure/cpu"));
    }

    /**
     * The percentage of the last 10 s some task waited for a CPU (0-100), or empty where the kernel does not
     * tell (no {@code CONFIG_PSI}, or booted with {@code psi=0}: then reading fails).
     */
    public OptionalDouble someAvg10() {
        String first;
        try (var in = Files.newInputStream(file)) {
            byte[] head = in.readNBytes(MAX_BYTES);
            String text = new String(head, StandardCharsets.US_ASCII);
            int end = text.indexOf('\n');
            if (end < 0) {
                return OptionalDouble.empty(); // not a whole line of the kernel's
            }
            first = text.substring(0, end);
        } catch (IOException | UnsupportedOperationException e) {
            return OptionalDouble.empty();
        }
        Matcher m = SOME.matcher(first);
        if (!m.matches()) {
            return OptionalDouble.empty();
        }
        double percent = Double.parseDouble(m.group(1));
        return percent <= 100 ? OptionalDouble.of(percent) : OptionalDouble.empty();
    }
}
