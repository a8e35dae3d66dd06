package io.mcpsandbox.network;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The head of one proxy request from the sandbox, parsed strictly: CRLF line ends only (a bare CR or LF is
 * refused), at most {@value #MAX_HEAD_BYTES} bytes and {@value #MAX_HEADERS} header lines, visible ASCII, no
 * folded lines, one Host at most, no Content-Length together with Transfer-Encoding (two parsers reading one
 * body differently is how requests are smuggled). Two forms are served: {@code CONNECT host:port} and the
 * absolute form {@code METHOD http://host[:port]/path}; anything else is a {@link BadProxyRequest}.
 */
public sealed interface ProxyRequestHead permits ProxyRequestHead.Connect, ProxyRequestHead.Forward {
    int MAX_HEAD_BYTES = 16 * 1024;
    int MAX_HEADERS = 100;

    /** {@code host:port} the request names (host normalized). */
    String target();

    /** {@code CONNECT host:port}: a tunnel, for TLS only. */
    record Connect(String host, int port) implements ProxyRequestHead {
        @Override
        public String target() {
            return EgressDecision.target(host, port);
        }
    }

    /**
     * An absolute-form plain-HTTP request.
     *
     * @param origin  the origin-form target ({@code /path?query}) sent upstream
     * @param headers the sandbox's header lines as sent, in order
     */
    record Forward(String method, String host, int port, String origin, String version, List<Header> headers)
            implements ProxyRequestHead {
        public Forward {
            headers = List.copyOf(headers);
        }

        @Override
        public String target() {
            return EgressDecision.target(host, port);
        }
    }

    /** One header line: the name as sent, the value without surrounding spaces. */
    record Header(String name, String value) {
    }

    /** What was read: the head, and the stream positioned right after it (bytes read past the head first). */
    record Read(ProxyRequestHead head, InputStream rest) {
    }

    /**
     * Reads one head from {@code in}. Returns null when the stream ends before any byte (nothing was asked).
     *
     * @throws BadProxyRequest when the head is malformed, too long, or not a form this proxy serves
     */
    static Read read(InputStream in) throws IOException, BadProxyRequest {
        byte[] buffer = new byte[MAX_HEAD_BYTES];
        int length = 0;
        int end = -1;
        while (end < 0) {
            if (length == buffer.length) {
                throw new BadProxyRequest("request head longer than " + MAX_HEAD_BYTES + " bytes", null);
            }
            int n = in.read(buffer, length, buffer.length - length);
            if (n < 0) {
                if (length == 0) {
                    return null;
                }
                throw new BadProxyRequest("the request head ended early", null);
            }
            int from = Math.max(0, length - 3);
            length += n;
            end = headEnd(buffer, from, length);
        }
        ProxyRequestHead head = Parser.parse(new String(buffer, 0, end, StandardCharsets.ISO_8859_1));
        InputStream rest = end + 4 == length ? in
                : new SequenceInputStream(new ByteArrayInputStream(buffer, end + 4, length - end - 4), in);
        return new Read(head, rest);
    }

    private static int headEnd(byte[] b, int from, int to) {
        for (int i = from; i + 3 < to; i++) {
            if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') {
                return i;
            }
        }
        return -1;
    }

    /** The parsing rules, kept out of the interface's public face. */
    final class Parser {
        private static final Pattern METHOD = Pattern.compile("[A-Z][A-Z_-]{0,19}");
        private static final Pattern TOKEN = Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}");
        private static final Pattern VISIBLE = Pattern.compile("[\\x21-\\x7e]+");
        private static final Pattern FIELD_VALUE = Pattern.compile("[\\x20-\\x7e\\t]*");
        private static final Pattern PORT = Pattern.compile("[0-9]{1,5}");

        private Parser() {
        }

        static ProxyRequestHead parse(String text) throws BadProxyRequest {
            List<String> lines = lines(text);
            String[] parts = lines.getFirst().split(" ", -1);
            if (parts.length != 3 || !METHOD.matcher(parts[0]).matches() || !VISIBLE.matcher(parts[1]).matches()) {
                throw new BadProxyRequest("malformed request line", null);
            }
            String method = parts[0];
            String version = parts[2];
            if (!version.equals("HTTP/1.1") && !version.equals("HTTP/1.0")) {
                throw new BadProxyRequest("only HTTP/1.0 and HTTP/1.1 are served", null);
            }
            List<Header> headers = headers(lines.subList(1, lines.size()));
            if (method.equals("CONNECT")) {
                Authority authority = authority(parts[1], -1);
                return new Connect(authority.host(), authority.port());
            }
            return forward(method, parts[1], version, headers);
        }

        private static List<String> lines(String text) throws BadProxyRequest {
            List<String> lines = new ArrayList<>();
            int start = 0;
            while (true) {
                int crlf = text.indexOf("\r\n", start);
                String line = crlf < 0 ? text.substring(start) : text.substring(start, crlf);
                if (line.indexOf('\r') >= 0 || line.indexOf('\n') >= 0) {
                    throw new BadProxyRequest("bare CR or LF in the request head", null);
                }
                lines.add(line);
                if (crlf < 0) {
                    return lines;
                }
                start = crlf + 2;
            }
        }

        private static List<Header> headers(List<String> lines) throws BadProxyRequest {
            if (lines.size() > MAX_HEADERS) {
                throw new BadProxyRequest("more than " + MAX_HEADERS + " header lines", null);
            }
            List<Header> headers = new ArrayList<>();
            for (String line : lines) {
                int colon = line.indexOf(':');
                if (colon <= 0 || !TOKEN.matcher(line.substring(0, colon)).matches()) {
                    throw new BadProxyRequest("malformed header line", null);
                }
                String value = line.substring(colon + 1);
                if (!FIELD_VALUE.matcher(value).matches()) {
                    throw new BadProxyRequest("control character in a header value", null);
                }
                headers.add(new Header(line.substring(0, colon), value.strip()));
            }
            if (count(headers, "host") > 1) {
                throw new BadProxyRequest("more than one Host header", null);
            }
            int contentLengths = count(headers, "content-length");
            int transferEncodings = count(headers, "transfer-encoding");
            if (contentLengths > 1 || transferEncodings > 1 || (contentLengths == 1 && transferEncodings == 1)) {
                throw new BadProxyRequest("ambiguous body length (Content-Length / Transfer-Encoding)", null);
            }
            for (Header header : headers) {
                String name = header.name().toLowerCase(Locale.ROOT);
                if (name.equals("content-length") && !header.value().matches("[0-9]{1,18}")) {
                    throw new BadProxyRequest("malformed Content-Length", null);
                }
                if (name.equals("transfer-encoding") && !header.value().equalsIgnoreCase("chunked")) {
                    throw new BadProxyRequest("only Transfer-Encoding: chunked is served", null);
                }
            }
            return headers;
        }

        private static Forward forward(String method, String target, String version, List<Header> headers)
                throws BadProxyRequest {
            String lower = target.toLowerCase(Locale.ROOT);
            if (lower.startsWith("https://")) {
                Authority authority = authority(authorityPart(target.substring(8)), 443);
                throw new BadProxyRequest("https:// in a proxy request: use CONNECT", authority.target());
            }
            if (!lower.startsWith("http://")) {
                throw new BadProxyRequest("a proxy request needs CONNECT or an absolute http:// URL", null);
            }
            String afterScheme = target.substring(7);
            String authorityText = authorityPart(afterScheme);
            Authority authority = authority(authorityText, 80);
            if (target.indexOf('#') >= 0) {
                throw new BadProxyRequest("a fragment in the request target", authority.target());
            }
            String origin = afterScheme.substring(authorityText.length());
            origin = origin.isEmpty() ? "/" : origin.startsWith("?") ? "/" + origin : origin;
            List<Header> hosts = headers.stream().filter(h -> h.name().equalsIgnoreCase("host")).toList();
            if (hosts.isEmpty()) {
                throw new BadProxyRequest("no Host header", authority.target());
            }
            Authority named;
            try {
                named = authority(hosts.getFirst().value(), 80);
            } catch (BadProxyRequest e) {
                throw new BadProxyRequest("malformed Host header", authority.target());
            }
            if (!named.equals(authority)) {
                throw new BadProxyRequest("the Host header names another host than the URL", authority.target());
            }
            return new Forward(method, authority.host(), authority.port(), origin, version, headers);
        }

        private static String authorityPart(String afterScheme) throws BadProxyRequest {
            int end = afterScheme.length();
            for (char c : new char[] {'/', '?', '#'}) {
                int at = afterScheme.indexOf(c);
                if (at >= 0 && at < end) {
                    end = at;
                }
            }
            String authority = afterScheme.substring(0, end);
            if (authority.indexOf('@') >= 0) {
                throw new BadProxyRequest("user info in the request target", null);
            }
            return authority;
        }

        /** {@code host:port}, or {@code host} alone when {@code defaultPort} is not -1. */
        static Authority authority(String text, int defaultPort) throws BadProxyRequest {
            String host;
            String port;
            if (text.startsWith("[")) {
                int close = text.indexOf(']');
                if (close < 0) {
                    throw new BadProxyRequest("malformed host", null);
                }
                host = text.substring(0, close + 1);
                String after = text.substring(close + 1);
                if (!after.isEmpty() && !after.startsWith(":")) {
                    throw new BadProxyRequest("malformed host", null);
                }
                port = after.isEmpty() ? null : after.substring(1);
            } else {
                int colon = text.indexOf(':');
                host = colon < 0 ? text : text.substring(0, colon);
                port = colon < 0 ? null : text.substring(colon + 1);
            }
            String normalized;
            try {
                InetAddress literal = NameResolver.parseLiteral(host);
                normalized = literal != null ? literal.getHostAddress() : NameResolver.normalizeName(host);
            } catch (IllegalArgumentException e) {
                throw new BadProxyRequest("malformed host", null);
            }
            if (port == null) {
                if (defaultPort < 0) {
                    throw new BadProxyRequest("CONNECT needs host:port", normalized + ":?");
                }
                return new Authority(normalized, defaultPort);
            }
            if (!PORT.matcher(port).matches() || Integer.parseInt(port) < 1 || Integer.parseInt(port) > 65535) {
                throw new BadProxyRequest("malformed port", null);
            }
            return new Authority(normalized, Integer.parseInt(port));
        }

        private static int count(List<Header> headers, String lowerName) {
            return (int) headers.stream().filter(h -> h.name().equalsIgnoreCase(lowerName)).count();
        }

        record Authority(String host, int port) {
            String target() {
                return EgressDecision.target(host, port);
            }
        }
    }

    /** Hop-by-hop names never forwarded ({@code Proxy-*} too, and whatever Connection lists). */
    Set<String> HOP_BY_HOP = Set.of("connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade");

    /**
     * The head sent upstream for {@code forward}: origin form, hop-by-hop and {@code Proxy-*} headers removed,
     * the sandbox's headers named like a secret header removed, the secret headers added,
     * {@code Connection: close}.
     */
    static byte[] upstreamHead(Forward forward, List<SecretHeader> secrets) {
        Set<String> dropped = new HashSet<>(HOP_BY_HOP);
        for (Header header : forward.headers()) {
            if (header.name().equalsIgnoreCase("connection")) {
                for (String listed : header.value().split(",")) {
                    dropped.add(listed.strip().toLowerCase(Locale.ROOT));
                }
            }
        }
        // Framing and routing stay whatever Connection lists: dropping them would change what upstream reads.
        dropped.removeAll(Set.of("host", "content-length", "transfer-encoding"));
        secrets.forEach(s -> dropped.add(s.name().toLowerCase(Locale.ROOT)));
        StringBuilder head = new StringBuilder();
        head.append(forward.method()).append(' ').append(forward.origin()).append(' ').append(forward.version())
                .append("\r\n");
        for (Header header : forward.headers()) {
            String name = header.name().toLowerCase(Locale.ROOT);
            if (!dropped.contains(name) && !name.startsWith("proxy-")) {
                head.append(header.name()).append(": ").append(header.value()).append("\r\n");
            }
        }
        secrets.forEach(s -> head.append(s.name()).append(": ").append(s.value()).append("\r\n"));
        head.append("Connection: close\r\n\r\n");
        return head.toString().getBytes(StandardCharsets.ISO_8859_1);
    }
}
