package io.mcpsandbox.host;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CpuPressureTest {
    @TempDir
    Path tmp;

    private CpuPressure reading(String text) throws Exception {
        Path file = tmp.resolve("cpu");
        Files.writeString(file, text);
        return new CpuPressure(file);
    }

    @Test
    void readsTheTenSecondShareOfTheSomeLine() throws Exception {
        assertThat(reading("some avg10=5.59 avg60=14.29 avg300=20.72 total=6258800433\n"
                + "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").someAvg10()).hasValue(5.59);
        assertThat(reading("some avg10=100.00 avg60=0.00 avg300=0.00 total=1\n").someAvg10()).hasValue(100.0);
    }

    @Test
    void thisHostsKernelAnswersWithinRange() {
        // CI's machines report CPU pressure (the spare interpreters' default depends on it): a real reading.
        assertThat(Files.isReadable(Path.of("/proc/pressure/cpu"))).as("/proc/pressure/cpu").isTrue();
        java.util.OptionalDouble now = CpuPressure.host().someAvg10();
        assertThat(now).isPresent();
        assertThat(now.getAsDouble()).isBetween(0.0, 100.0);
    }

    @Test
    void anythingElseIsUnknownNotZero() throws Exception {
        assertThat(new CpuPressure(tmp.resolve("missing")).someAvg10()).isEmpty();
        assertThat(reading("").someAvg10()).isEmpty();
        assertThat(reading("full avg10=1.00 avg60=0.00 avg300=0.00 total=0\n").someAvg10()).isEmpty();
        assertThat(reading("some avg10=-1.00 avg60=0.00 avg300=0.00 total=0\n").someAvg10()).isEmpty();
        assertThat(reading("some avg10=100.01 avg60=0.00 avg300=0.00 total=0\n").someAvg10()).isEmpty();
        assertThat(reading("some avg10=1e3 avg60=0.00 avg300=0.00 total=0\n").someAvg10()).isEmpty();
        assertThat(reading("some avg10=1.00").someAvg10()).isEmpty();
        // A line far longer than the kernel's is not read to its end, and is no answer.
        assertThat(reading("some avg10=1.00 " + "x".repeat(100_000) + "\n").someAvg10()).isEmpty();
    }
}
