package io.mcpsandbox.network;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import org.junit.jupiter.api.Test;

class TlsClientHelloTest {

    /** The first record a JDK client sends, for {@code serverName} (null: no SNI). */
    static byte[] jdkClientHello(String serverName) throws Exception {
        SSLEngine engine = SSLContext.getDefault().createSSLEngine();
        engine.setUseClientMode(true);
        SSLParameters parameters = engine.getSSLParameters();
        parameters.setServerNames(serverName == null ? List.of() : List.of(new SNIHostName(serverName)));
        engine.setSSLParameters(parameters);
        ByteBuffer out = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
        engine.beginHandshake();
        engine.wrap(ByteBuffer.allocate(0), out);
        return Arrays.copyOf(out.array(), out.position());
    }

    private static TlsClientHello read(byte[] bytes) throws Exception {
        return TlsClientHello.read(new ByteArrayInputStream(bytes));
    }

    @Test
    void findsTheServerNameTheJdkSendsAndKeepsTheRecordWhole() throws Exception {
        byte[] hello = jdkClientHello("Files.PyPI.test");
        byte[] withMore = Arrays.copyOf(hello, hello.length + 3);
        ByteArrayInputStream in = new ByteArrayInputStream(withMore);
        TlsClientHello parsed = TlsClientHello.read(in);
        assertThat(parsed.serverName()).isEqualTo("files.pypi.test");
        assertThat(parsed.record()).isEqualTo(hello);
        assertThat(in.available()).isEqualTo(3); // nothing read past the record
    }

    @Test
    void noServerNameIsNull() throws Exception {
        assertThat(read(jdkClientHello(null)).serverName()).isNull();
    }

    @Test
    void refusesEveryTruncationOfARealHello() throws Exception {
        byte[] hello = jdkClientHello("pypi.test");
        for (int length = 0; length < hello.length; length++) {
            byte[] cut = Arrays.copyOf(hello, length);
            assertThatThrownBy(() -> read(cut)).as("cut at " + length)
                    .isInstanceOf(TlsClientHello.NotAClientHello.class);
        }
    }

    @Test
    void refusesARecordWhoseInnerLengthsDoNotAddUp() throws Exception {
        byte[] hello = jdkClientHello("pypi.test");
        // Every single byte of the handshake's length fields changed: a parse error, never an exception escaping.
        for (int i = 5; i < hello.length; i++) {
            byte[] changed = hello.clone();
            changed[i] = (byte) (changed[i] ^ 0xff);
            try {
                read(changed);
            } catch (TlsClientHello.NotAClientHello expected) {
                // refused: fine
            }
        }
        byte[] shorterHandshake = hello.clone();
        shorterHandshake[8] = (byte) (shorterHandshake[8] - 1); // handshake length one less than the record
        assertThatThrownBy(() -> read(shorterHandshake)).hasMessageContaining("exactly one record");
    }

    @Test
    void refusesWhatIsNotAClientHello() {
        for (byte[] bad : List.of(
                "GET / HTTP/1.1\r\n\r\n".getBytes(),
                new byte[] {0x17, 3, 3, 0, 5, 1, 2, 3, 4, 5},            // application data
                new byte[] {0x16, 3, 3, 0x40, 0x01},                     // longer than 16 KiB
                new byte[] {0x16, 3, 3, 0, 0},                           // empty
                new byte[] {0x16, 3, 3, 0, 4, 2, 0, 0, 0},               // a ServerHello
                new byte[] {0x16, 2, 0, 0, 4, 1, 0, 0, 0},               // SSLv2-ish version
                new byte[] {0x16, 3, 3, 0, 4, 1, 0, 0, 0})) {            // a hello of nothing
            assertThatThrownBy(() -> read(bad)).isInstanceOf(TlsClientHello.NotAClientHello.class);
        }
    }

    @Test
    void refusesTwoServerNamesAndDuplicateExtensions() throws Exception {
        byte[] sni = serverNameExtension("a.test", "b.test");
        assertThatThrownBy(() -> read(hello(sni))).hasMessageContaining("server_name");
        byte[] one = serverNameExtension("a.test");
        byte[] twice = new byte[one.length * 2];
        System.arraycopy(one, 0, twice, 0, one.length);
        System.arraycopy(one, 0, twice, one.length, one.length);
        assertThatThrownBy(() -> read(hello(twice))).hasMessageContaining("twice");
        assertThat(read(hello(one)).serverName()).isEqualTo("a.test");
        assertThatThrownBy(() -> read(hello(serverNameExtension("10.0.0.1")))).hasMessageContaining("address");
        assertThatThrownBy(() -> read(hello(serverNameExtension("a b.test")))).isNotNull();
    }

    private static byte[] serverNameExtension(String... names) {
        ByteBuffer list = ByteBuffer.allocate(1000);
        for (String name : names) {
            list.put((byte) 0).putShort((short) name.length()).put(name.getBytes());
        }
        int listLength = list.position();
        ByteBuffer ext = ByteBuffer.allocate(6 + listLength);
        ext.putShort((short) 0).putShort((short) (listLength + 2)).putShort((short) listLength)
                .put(list.array(), 0, listLength);
        return ext.array();
    }

    /** A minimal ClientHello record with {@code extensions}. */
    private static byte[] hello(byte[] extensions) {
        ByteBuffer body = ByteBuffer.allocate(2 + 32 + 1 + 4 + 2 + 2 + extensions.length);
        body.putShort((short) 0x0303).put(new byte[32]).put((byte) 0).putShort((short) 2).putShort((short) 0x1301)
                .put((byte) 1).put((byte) 0).putShort((short) extensions.length).put(extensions);
        int length = body.position();
        ByteBuffer record = ByteBuffer.allocate(5 + 4 + length);
        record.put((byte) 0x16).putShort((short) 0x0301).putShort((short) (4 + length))
                .put((byte) 1).put((byte) 0).putShort((short) length).put(body.array(), 0, length);
        return record.array();
    }
}
