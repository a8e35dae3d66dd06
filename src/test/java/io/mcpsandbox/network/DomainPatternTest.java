package io.mcpsandbox.network;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class DomainPatternTest {

    @Test
    void exactNameMatchesOnlyItselfInAnyCaseWithOrWithoutTrailingDot() {
        DomainPattern pypi = DomainPattern.parse("PyPI.org.");
        assertThat(pypi.toString()).isEqualTo("pypi.org");
        assertThat(pypi.matches("pypi.org")).isTrue();
        assertThat(pypi.matches("PYPI.ORG.")).isTrue();
        assertThat(pypi.matches("files.pypi.org")).isFalse();
        assertThat(pypi.matches("evilpypi.org")).isFalse();
        assertThat(pypi.matches("pypi.org.evil.com")).isFalse();
    }

    @Test
    void wildcardMatchesEverySubdomainButNotTheApex() {
        DomainPattern any = DomainPattern.parse("*.Example.org");
        assertThat(any.matches("a.example.org")).isTrue();
        assertThat(any.matches("a.b.EXAMPLE.org.")).isTrue();
        assertThat(any.matches("example.org")).isFalse();
        assertThat(any.matches("badexample.org")).isFalse();
        assertThat(any.matches("example.org.evil.com")).isFalse();
    }

    @Test
    void malformedHostsNeverMatch() {
        DomainPattern any = DomainPattern.parse("*.example.org");
        assertThat(any.matches("a b.example.org")).isFalse();
        assertThat(any.matches("a..example.org")).isFalse();
        assertThat(any.matches("")).isFalse();
    }

    @ParameterizedTest
    @ValueSource(strings = {"*", "*.", "a.*.org", "*example.org", "**.org", "10.0.0.1", "[::1]", "*.10.0.0.1",
        "exa mple.org", "", "0x7f.1"})
    void refusesMalformedEntries(String entry) {
        assertThatThrownBy(() -> DomainPattern.parse(entry)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void coversItsOwnSubsetsOnly() {
        DomainPattern any = DomainPattern.parse("*.example.org");
        assertThat(any.covers(DomainPattern.parse("a.example.org"))).isTrue();
        assertThat(any.covers(DomainPattern.parse("*.a.example.org"))).isTrue();
        assertThat(any.covers(DomainPattern.parse("*.example.org"))).isTrue();
        assertThat(any.covers(DomainPattern.parse("example.org"))).isFalse();
        assertThat(any.covers(DomainPattern.parse("*.org"))).isFalse();
        DomainPattern exact = DomainPattern.parse("pypi.org");
        assertThat(exact.covers(DomainPattern.parse("PYPI.org."))).isTrue();
        assertThat(exact.covers(DomainPattern.parse("*.pypi.org"))).isFalse();
        assertThat(exact.covers(DomainPattern.parse("a.pypi.org"))).isFalse();
    }
}
