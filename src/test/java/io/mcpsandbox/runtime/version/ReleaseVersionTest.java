package io.mcpsandbox.runtime.version;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class ReleaseVersionTest {
    private static ReleaseVersion v(String s) {
        return ReleaseVersion.parse(s);
    }

    @Test
    void parsesWhatRuntimesPrint() {
        assertThat(ReleaseVersion.find("runc version 1.1.5+ds1")).contains(new ReleaseVersion(List.of(1, 1, 5), null));
        assertThat(v("v1.4.0-rc.3")).isEqualTo(new ReleaseVersion(List.of(1, 4, 0), "rc.3"));
        assertThat(v("20.10.24+dfsg1").toString()).isEqualTo("20.10.24");
        assertThat(ReleaseVersion.find("Docker 27.3.1, runsc").orElseThrow().toString()).isEqualTo("27.3.1");
        assertThat(ReleaseVersion.find("spec: 1")).isEmpty();
        assertThatThrownBy(() -> v("unknown")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void comparesNumbersNumerically() {
        assertThat(v("1.1.5+ds1")).isLessThan(v("1.1.12"));
        assertThat(v("1.1.12")).isLessThan(v("1.1.14"));
        assertThat(v("1.1.14")).isLessThan(v("1.2.0"));
        assertThat(v("1.10.0")).isGreaterThan(v("1.9.9"));
        assertThat(v("20.10.24")).isLessThan(v("23.0"));
        assertThat(v("23.0")).isEqualByComparingTo(v("23.0.0"));
    }

    @Test
    void aReleaseComesAfterItsPreReleases() {
        assertThat(v("1.2.0-rc.1")).isLessThan(v("1.2.0-rc.3"));
        assertThat(v("1.2.0-rc.3")).isLessThan(v("1.2.0"));
        assertThat(v("1.2.0-rc.10")).isGreaterThan(v("1.2.0-rc.9"));
        assertThat(v("1.2.0-rc.1")).isGreaterThan(v("1.1.14"));
        assertThat(v("1.2.0-alpha")).isLessThan(v("1.2.0-rc.1"));
    }

    @Test
    void buildMetadataDoesNotCount() {
        assertThat(v("1.1.5+ds1")).isEqualByComparingTo(v("1.1.5"));
    }
}
