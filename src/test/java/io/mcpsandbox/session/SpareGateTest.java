package io.mcpsandbox.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.host.CpuPressure;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
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

    @Test
    void onByDefaultUpToFortyPercentAndALimitOutsideZeroToAHundredIsRefusedByName() {
        SessionSettings defaults = SessionSettings.from(new Settings(new Properties(), Map.of()));
        assertThat(defaults.spareInterpreters()).isTrue();
        assertThat(defaults.spareMaxCpuPressure()).isEqualTo(40);
        for (String bad : new String[] {"101", "-1"}) {
            assertThatThrownBy(() -> SessionSettings.from(new Settings(new Properties(),
                    Map.of("MCP_SANDBOX_SESSION_SPARE_MAX_CPU_PRESSURE", bad))))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("spare-max-cpu-pressure " + bad + " (a percentage, 0 to 100)");
        }
        assertThatThrownBy(() -> SessionSettings.from(new Settings(new Properties(),
                Map.of("MCP_SANDBOX_SESSION_SPARE_MAX_CPU_PRESSURE", "40%"))))
                .hasMessageContaining("session.spare-max-cpu-pressure: expected a whole number");
    }
}
