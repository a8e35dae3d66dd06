package io.mcpsandbox.network;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ProxyRequestHeadTest {

    private static ProxyRequestHead.Read read(String text) throws Exception {
        return ProxyRequestHead.read(new ByteArrayInputStream(text.getBytes(StandardCharsets.ISO_8859_1)));
    }

    @Test
    void parsesConnectAndKeepsTheBytesAfterTheHead() throws Exception {
        ProxyRequestHead.Read read = read("CONNECT PyPI.test:443 HTTP/1.1\r\nHost: pypi.test:443\r\n\r\n\u0016\u0003");
        assertThat(read.head()).isEqualTo(new ProxyRequestHead.Connect("pypi.test", 443));
        assertThat(read.rest().readAllBytes()).containsExactly(0x16, 0x03);
        assertThat(read("CONNECT [2001:db8::1]:8443 HTTP/1.0\r\n\r\n").head().target())
                .isEqualTo("[2001:db8:0:0:0:0:0:1]:8443");
    }

    @Test
    void parsesAbsoluteFormIntoOriginForm() throws Exception {
        ProxyRequestHead head = read("GET http://api.test:8080/a/b?c=d HTTP/1.1\r\nHost: API.test:8080\r\n"
                + "Accept: */*\r\n\r\n").head();
        assertThat(head).isInstanceOfSatisfying(ProxyRequestHead.Forward.class, f -> {
            assertThat(f.host()).isEqualTo("api.test");
            assertThat(f.port()).isEqualTo(8080);
            assertThat(f.origin()).isEqualTo("/a/b?c=d");
            assertThat(f.method()).isEqualTo("GET");
        });
        ProxyRequestHead.Forward bare = (ProxyRequestHead.Forward) read(
                "GET http://api.test?x HTTP/1.0\r\nHost: api.test\r\n\r\n").head();
        assertThat(bare.origin()).isEqualTo("/?x");
        assertThat(bare.port()).isEqualTo(80);
    }

    @Test
    void emptyStreamIsNoRequest() throws Exception {
        assertThat(read("")).isNull();
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "CONNECT pypi.test HTTP/1.1\r\n\r\n",                          // no port
        "CONNECT pypi.test:0 HTTP/1.1\r\n\r\n",
        "CONNECT pypi.test:65536 HTTP/1.1\r\n\r\n",
        "CONNECT pypi.test:+443 HTTP/1.1\r\n\r\n",
        "CONNECT pypi.test:443x HTTP/1.1\r\n\r\n",
        "CONNECT pypi.test:443:1 HTTP/1.1\r\n\r\n",
        "CONNECT [::1 HTTP/1.1\r\n\r\n",
        "CONNECT 0x7f.1:443 HTTP/1.1\r\n\r\n",
        "GET https://pypi.test/ HTTP/1.1\r\nHost: pypi.test\r\n\r\n",  // absolute https: use CONNECT
        "GET / HTTP/1.1\r\nHost: pypi.test\r\n\r\n",                   // origin form
        "GET * HTTP/1.1\r\n\r\n",
        "GET ftp://pypi.test/ HTTP/1.1\r\n\r\n",
        "GET http://user@pypi.test/ HTTP/1.1\r\nHost: pypi.test\r\n\r\n",
        "GET http://pypi.test/#frag HTTP/1.1\r\nHost: pypi.test\r\n\r\n",
        "GET http://pypi.test/ HTTP/1.1\r\n\r\n",                      // no Host
        "GET http://pypi.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n",   // Host mismatch
        "GET http://pypi.test/ HTTP/1.1\r\nHost: pypi.test:8080\r\n\r\n",
        "GET http://pypi.test/ HTTP/1.1\r\nHost: pypi.test\r\nHost: evil.test\r\n\r\n", // two Host headers
        "GET http://pypi.test/ HTTP/1.1\r\nHost: pypi.test\r\nHOST: pypi.test\r\n\r\n",
        "GET http://pypi.test/ HTTP/2.0\r\nHost: pypi.test\r\n\r\n",
        "GET http://pypi.test/ HTTP/1.1 \r\nHost: pypi.test\r\n\r\n",
        "GET  http://pypi.test/ HTTP/1.1\r\nHost: pypi.test\r\n\r\n",
        "get http://pypi.test/ HTTP/1.1\r\nHost: pypi.test\r\n\r\n",
        "GET http://pypi.test/ HTTP/1.1\nHost: pypi.test\r\n\r\n",     // bare LF
        "GET http://pypi.test/ HTTP/1.1\r\nHost: pypi.test\rX: y\r\n\r\n",
        "GET http://pypi.test/ HTTP/1.1\r\nHost: pypi.test\r\n folded\r\n\r\n",
        "GET http://pypi.test/ HTTP/1.1\r\nHost : pypi.test\r\n\r\n",
        "GET http://pypi.test/ HTTP/1.1\r\nHost: pypi.test\r\nX: a\u0000b\r\n\r\n",
        "GET http://pypi.test/ HTTP/1.1\r\nHost: pypi.test\r\nX: caf\u00e9\r\n\r\n",
        "POST http://pypi.test/ HTTP/1.1\r\nHost: pypi.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "POST http://pypi.test/ HTTP/1.1\r\nHost: pypi.test\r\nContent-Length: 1\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n",
        "POST http://pypi.test/ HTTP/1.1\r\nHost: pypi.test\r\nContent-Length: -1\r\n\r\n",
        "POST http://pypi.test/ HTTP/1.1\r\nHost: pypi.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "\u0016\u0003\u0001\u0000\u0005hello\r\n\r\n",                    // TLS sent without CONNECT
        "GET http://pypi.test/ HTTP/1.1\r\nHost: pypi.test\r\n",       // ends before the blank line
    })
    void refusesHostileHeads(String head) {
        assertThatThrownBy(() -> read(head)).isInstanceOf(BadProxyRequest.class);
    }

    @Test
    void aRefusalNamesTheTargetOnlyWhenTheRequestNamedOne() {
        assertThatThrownBy(() -> read("GET https://pypi.test/ HTTP/1.1\r\nHost: pypi.test\r\n\r\n"))
                .isInstanceOfSatisfying(BadProxyRequest.class, e -> assertThat(e.target()).isEqualTo("pypi.test:443"));
        assertThatThrownBy(() -> read("CONNECT pypi.test HTTP/1.1\r\n\r\n"))
                .isInstanceOfSatisfying(BadProxyRequest.class, e -> assertThat(e.target()).isEqualTo("pypi.test:?"));
        assertThatThrownBy(() -> read("GET http://pypi.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n"))
                .isInstanceOfSatisfying(BadProxyRequest.class, e -> assertThat(e.target()).isEqualTo("pypi.test:80"));
        assertThatThrownBy(() -> read("garbage\r\n\r\n"))
                .isInstanceOfSatisfying(BadProxyRequest.class, e -> assertThat(e.target()).isNull());
    }

    @Test
    void aHugeHeadIsRefusedAfterTheLimitWithoutReadingFurther() {
        byte[] endless = ("GET http://pypi.test/ HTTP/1.1\r\nX: " + "a".repeat(1 << 20))
                .getBytes(StandardCharsets.US_ASCII);
        ByteArrayInputStream in = new ByteArrayInputStream(endless);
        assertThatThrownBy(() -> ProxyRequestHead.read(in)).isInstanceOf(BadProxyRequest.class)
                .hasMessageContaining("longer than 16384");
        assertThat(endless.length - in.available()).isEqualTo(ProxyRequestHead.MAX_HEAD_BYTES);
        String many = "GET http://pypi.test/ HTTP/1.1\r\nHost: pypi.test\r\n" + "X: y\r\n".repeat(101) + "\r\n";
        assertThatThrownBy(() -> read(many)).hasMessageContaining("header lines");
    }

    @Test
    void upstreamHeadDropsHopByHopAndProxyHeadersAndReplacesSecretHeaders() throws Exception {
        ProxyRequestHead.Forward head = (ProxyRequestHead.Forward) read("POST http://api.test/v1?q HTTP/1.1\r\n"
                + "Host: api.test\r\nProxy-Authorization: Basic abc\r\nProxy-Connection: keep-alive\r\n"
                + "Connection: keep-alive, X-Drop, Host, Content-Length\r\nX-Drop: 1\r\nUpgrade: websocket\r\n"
                + "authorization: Bearer from-sandbox\r\nContent-Length: 3\r\nX-Keep: 2\r\n\r\nabc").head();
        String upstream = new String(ProxyRequestHead.upstreamHead(head,
                List.of(new SecretHeader("Authorization", "Bearer server-secret"))), StandardCharsets.US_ASCII);
        assertThat(upstream).isEqualTo("POST /v1?q HTTP/1.1\r\nHost: api.test\r\nContent-Length: 3\r\n"
                + "X-Keep: 2\r\nAuthorization: Bearer server-secret\r\nConnection: close\r\n\r\n");
    }
}
