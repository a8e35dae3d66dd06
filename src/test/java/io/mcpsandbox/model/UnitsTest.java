package io.mcpsandbox.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The human forms of durations and sizes in the CLI and the config, and the errors that name the field. */
class UnitsTest {
    @ParameterizedTest
    @CsvSource({"1500ms, PT1.5S", "5s, PT5S", "45, PT45S", "2m, PT2M", "24h, PT24H", "30d, PT720H", "' 5S ', PT5S",
            "0, PT0S"})
    void durationsTakeAUnitAndABareNumberIsSeconds(String text, String iso) {
        assertThat(Units.parseDuration("limits.default.timeout", text)).isEqualTo(Duration.parse(iso));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "soon", "-5s", "1.5s", "5 s", "5sec", "5w", "s", "99999999999999999999s"})
    void malformedDurationsNameTheFieldAndWhatIsExpected(String text) {
        assertThatThrownBy(() -> Units.parseDuration("--timeout", text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("--timeout: ")
                .hasMessageContaining("'" + text + "'");
    }

    @Test
    void aDurationTooLongForTheClockIsRefusedWithTheField() {
        assertThatThrownBy(() -> Units.parseDuration("limits.max.timeout", Long.MAX_VALUE + "d"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("limits.max.timeout: ");
    }

    @ParameterizedTest
    @CsvSource({"1048576, 1048576", "10b, 10", "512k, 524288", "64kb, 65536", "256m, 268435456", "256M, 268435456",
            "1g, 1073741824", "1GiB, 1073741824", "2t, 2199023255552", "' 4g ', 4294967296", "0, 0"})
    void sizesAreBinaryMultiples(String text, long bytes) {
        assertThat(Units.parseBytes("limits.max.memory", text)).isEqualTo(bytes);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "lots", "-1m", "1.5g", "1 g", "1x", "g", "1kk", "99999999999999999999"})
    void malformedSizesNameTheFieldAndWhatIsExpected(String text) {
        assertThatThrownBy(() -> Units.parseBytes("--memory", text))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("--memory: ")
                .hasMessageContaining("'" + text + "'");
    }

    @Test
    void aSizeThatOverflowsALongIsRefusedNotWrapped() {
        assertThat(Units.parseBytes("x", "8388607t")).isEqualTo(8388607L << 40);
        assertThatThrownBy(() -> Units.parseBytes("limits.max.output", "8388608t"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("limits.max.output: size too large: '8388608t'");
    }

    @Test
    void formattingUsesTheLargestUnitThatDividesAndParsesBack() {
        assertThat(Units.formatBytes(256L << 20)).isEqualTo("256m");
        assertThat(Units.formatBytes(4L << 30)).isEqualTo("4g");
        assertThat(Units.formatBytes(1536)).isEqualTo("1536");
        assertThat(Units.formatBytes(2048)).isEqualTo("2k");
        assertThat(Units.formatBytes(0)).isEqualTo("0");
        assertThat(Units.formatDuration(Duration.ofHours(24))).isEqualTo("1d");
        assertThat(Units.formatDuration(Duration.ofMinutes(90))).isEqualTo("90m");
        assertThat(Units.formatDuration(Duration.ofMillis(1500))).isEqualTo("1500ms");
        assertThat(Units.formatDuration(Duration.ZERO)).isEqualTo("0ms");
        for (long bytes : new long[] {1, 1536, 64L << 10, 256L << 20, 3L << 30, 5L << 40}) {
            assertThat(Units.parseBytes("x", Units.formatBytes(bytes))).isEqualTo(bytes);
        }
        for (Duration d : new Duration[] {Duration.ofMillis(1), Duration.ofSeconds(45), Duration.ofMinutes(10),
                Duration.ofHours(36), Duration.ofDays(30)}) {
            assertThat(Units.parseDuration("x", Units.formatDuration(d))).isEqualTo(d);
        }
    }
}
