package io.mcpsandbox.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.mcpsandbox.host.CpuPressure;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SpareGateTest {
    @TempDir
    Path tmp;

    private CpuPressure pressure(String avg10) throws Exception {
        Path file = tmp.resolve("cpu");
        Files.writeString(file, "some avg10=" + avg10 + " avg60=0.00 avg300=0.00 total=0\n"
                + "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
        return new CpuPressure(file);
    }

    @Test
    void opensOnlyWhileTheHostsCpuPressureIsAtMostTheLimit() throws Exception {
        assertThat(new SpareGate(true, 40, pressure("12.35")).open()).isTrue();
        assertThat(new SpareGate(true, 40, pressure("40.00")).open()).isTrue();
        assertThat(new SpareGate(true, 40, pressure("40.01")).open()).isFalse();
        assertThat(new SpareGate(true, 0, pressure("0.00")).open()).isTrue();
        assertThat(new SpareGate(true, 0, pressure("0.01")).open()).isFalse();
    }

    @Test
    void followsThePressureAsItMoves() throws Exception {
        CpuPressure p = pressure("10.00");
        SpareGate gate = new SpareGate(true, 40, p);
        assertThat(gate.open()).isTrue();
        pressure("75.00");
        assertThat(gate.open()).as("the host got busy").isFalse();
        pressure("39.99");
        assertThat(gate.open()).isTrue();
    }

    @Test
    void anUnknownPressureStartsNoSpareUnlessTheLimitIsAHundred() {
        CpuPressure unknown = new CpuPressure(tmp.resolve("no-psi"));
        assertThat(new SpareGate(true, 99, unknown).open()).isFalse();
        assertThat(new SpareGate(true, SpareGate.ALWAYS, unknown).open()).isTrue();
    }

    @Test
    void offIsOffWhateverThePressure() throws Exception {
        assertThat(new SpareGate(false, SpareGate.ALWAYS, pressure("0.00")).open()).isFalse();
        assertThat(new SpareGate(false, 40, pressure("0.00")).open()).isFalse();
    }
}
