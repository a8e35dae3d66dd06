package io.mcpsandbox.runtime.oci;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class InitNoiseTest {
    private final OciSandbox sandbox = new OciSandbox(null, "mcp-exec-x", null, 0, null, null, null);

    @Test
    void onlyTheInitsTrailingLateSignalWarningIsRemoved() {
        String warning = OciSandbox.INIT_LATE_SIGNAL_WARNING;
        assertThat(sandbox.withoutRuntimeNoise("err\n" + warning)).isEqualTo("err\n");
        assertThat(sandbox.withoutRuntimeNoise(warning)).isEmpty();
        assertThat(sandbox.withoutRuntimeNoise(warning + "program output after it\n")).as("not the last line: kept")
                .isEqualTo(warning + "program output after it\n");
        assertThat(sandbox.withoutRuntimeNoise("plain\n")).isEqualTo("plain\n");
    }
}
