package io.mcpsandbox.session;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** A server's identity names its process and its host; another host's process is never judged by this one's. */
class ServerIdentityTest {

    @Test
    void thisProcessIsAliveOnThisHost() {
        String self = ServerIdentity.current();
        assertThat(self).matches("\\d+:\\d+@[0-9A-Za-z._-]+");
        assertThat(ServerIdentity.onThisHost(self)).isTrue();
        assertThat(ServerIdentity.isAlive(self)).isTrue();
    }

    @Test
    void aProcessOfAnotherHostIsNotThisHostsToJudge() {
        String self = ServerIdentity.current();
        String elsewhere = self.substring(0, self.indexOf('@')) + "@another-host";
        assertThat(ServerIdentity.onThisHost(elsewhere)).isFalse();
        assertThat(ServerIdentity.isAlive(elsewhere)).as("not alive here: the caller must not close it")
                .isFalse();
    }

    @Test
    void anIdWithoutAHostIsThisHostsAndAGoneProcessIsNotAlive() {
        String self = ServerIdentity.current();
        String legacy = self.substring(0, self.indexOf('@'));
        assertThat(ServerIdentity.onThisHost(legacy)).isTrue();
        assertThat(ServerIdentity.isAlive(legacy)).isTrue();
        assertThat(ServerIdentity.isAlive(legacy.substring(0, legacy.indexOf(':')) + ":1")).isFalse();
        assertThat(ServerIdentity.isAlive("not-a-pid:x")).isFalse();
        assertThat(ServerIdentity.isAlive(null)).isFalse();
    }
}
