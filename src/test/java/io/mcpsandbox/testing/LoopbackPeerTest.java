package io.mcpsandbox.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The owner of a loopback connection's other end, found in /proc: this JVM, or another process by its pid. */
class LoopbackPeerTest {
    @Test
    void tellsThisJvmFromAnotherProcess() throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            try (Socket mine = new Socket(InetAddress.getLoopbackAddress(), listener.getLocalPort());
                 Socket accepted = listener.accept()) {
                Optional<LoopbackPeer.Owner> owner = LoopbackPeer.of(accepted);
                assertThat(owner).isPresent();
                assertThat(owner.get().thisProcess()).isTrue();
            }
            Process child = new ProcessBuilder("python3", "-c", "import socket, sys; s = socket.create_connection(("
                    + "'127.0.0.1', " + listener.getLocalPort() + ")); sys.stdin.read()").start();
            try (Socket accepted = listener.accept()) {
                Optional<LoopbackPeer.Owner> owner = LoopbackPeer.of(accepted);
                assertThat(owner).isPresent();
                assertThat(owner.get().pid()).isEqualTo(child.pid());
                assertThat(owner.get().thisProcess()).isFalse();
                assertThat(owner.get().toString()).contains("python3");
            } finally {
                child.destroyForcibly().waitFor();
            }
        }
    }
}
