package io.mcpsandbox.cli;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * A small HTTP/1.1 client over a plain socket, for {@code exec} handing its request to a server on this machine
 * ({@link LocalHandOff}): {@code java.net.http} costs a large part of a CLI start (some 260 classes and a selector
 * thread) for one request to loopback. One request per connection ({@code Connection: close}); the answer's head
 * is bounded and strictly parsed; its body is read as its framing says (chunked, Content-Length, or to the end).
 * Plain http only: the local endpoint's URL is an IP literal with http (see {@link LocalEndpoint}).
 */
final class LoopbackHttp {
    /** Most bytes of an answer's status line and headers. */
    static final int MAX_HEAD_BYTES = 32 << 10;
    private static final int MAX_HEADERS = 100;
    /** Interim (1xx) answers skipped before the real one. */
    private static final int MAX_INTERIM = 5;
    /** A chunk-size line: hex digits and an optional extension, bounded. */
    private static final int MAX_CHUNK_LINE = 1024;

    private LoopbackHttp() {
    }

    /** The connection was not made (refused, or not within the connect timeout): nothing was sent. */
    static final class NoConnection extends IOException {
        final boolean timedOut;

        NoConnection(IOException cause) {
            super(cause.getMessage(), cause);
            this.timedOut = cause instanceof java.net.SocketTimeoutException;
        }
    }

    /** An answer: its status, its headers (names in lower case, first value kept), and its body. */
    record Answer(int status, Map<String, String> headers, InputStream body) {
        Optional<String> header(String name) {
            return Optional.ofNullable(headers.get(name.toLowerCase(Locale.ROOT)));
        }
    }

    /**
     * Sends one request and reads the answer's head; the body is read from {@link Answer#body()} (closing it
     * closes the connection).
     *
     * @param host        an IP literal ({@code 127.0.0.1}, {@code [::1]})
     * @param headers     more request headers; their values must be one line (they are ours, not the user's)
     * @param body        the request body, or null for none
     * @param readTimeout how long a read may wait, or null for no limit (an execution runs as long as it runs)
     */
    static Answer exchange(String host, int port, String method, String target, Map<String, String> headers,
                           byte[] body, Duration connectTimeout, Duration readTimeout) throws IOException {
        String hostLiteral = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
        Socket socket = new Socket();
        try {
            try {
                socket.connect(new InetSocketAddress(InetAddress.getByName(hostLiteral), port),
                        (int) connectTimeout.toMillis());
            } catch (IOException e) {
                throw new NoConnection(e);
            }
            socket.setSoTimeout(readTimeout == null ? 0 : (int) Math.max(1, readTimeout.toMillis()));
            socket.setTcpNoDelay(true);
            StringBuilder head = new StringBuilder(256).append(method).append(' ').append(target)
                    .append(" HTTP/1.1\r\nHost: ").append(host).append(':').append(port)
                    .append("\r\nConnection: close\r\n");
            for (Map.Entry<String, String> h : headers.entrySet()) {
                if (h.getValue().indexOf('\r') >= 0 || h.getValue().indexOf('\n') >= 0) {
                    throw new IllegalArgumentException("header " + h.getKey() + " is not one line");
                }
                head.append(h.getKey()).append(": ").append(h.getValue()).append("\r\n");
            }
            if (body != null || method.equals("POST") || method.equals("PUT")) {
                head.append("Content-Length: ").append(body == null ? 0 : body.length).append("\r\n");
            }
            head.append("\r\n");
            OutputStream out = socket.getOutputStream();
            out.write(head.toString().getBytes(StandardCharsets.US_ASCII));
            if (body != null) {
                out.write(body);
            }
            out.flush();
            InputStream in = new BufferedInputStream(socket.getInputStream());
            for (int interim = 0; ; interim++) {
                Answer answer = readHead(in, socket);
                if (answer.status >= 200 || interim >= MAX_INTERIM) {
                    if (answer.status < 200) {
                        throw new IOException("too many interim answers");
                    }
                    return answer;
                }
            }
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    private static Answer readHead(InputStream in, Socket socket) throws IOException {
        String[] lines = headLines(in);
        String status = lines[0];
        // "HTTP/1.1 200 OK": the version, a space, three digits, then a space and a phrase or nothing.
        if (!(status.startsWith("HTTP/1.1 ") || status.startsWith("HTTP/1.0 ")) || status.length() < 12
                || !isDigits(status.substring(9, 12)) || status.length() > 12 && status.charAt(12) != ' ') {
            throw new IOException("not an HTTP/1.1 answer");
        }
        int code = Integer.parseInt(status.substring(9, 12));
        if (code < 100) {
            throw new IOException("not an HTTP status: " + code);
        }
        Map<String, String> headers = new LinkedHashMap<>();
        String contentLength = null;
        for (int i = 1; i < lines.length; i++) {
            String line = lines[i];
            int colon = line.indexOf(':');
            if (colon <= 0 || !isToken(line.substring(0, colon))) {
                throw new IOException("malformed header line in the answer");
            }
            String name = line.substring(0, colon).toLowerCase(Locale.ROOT);
            String value = line.substring(colon + 1).strip();
            if (name.equals("content-length")) {
                if (contentLength != null && !contentLength.equals(value)) {
                    throw new IOException("conflicting Content-Length headers");
                }
                contentLength = value;
            }
            if (headers.putIfAbsent(name, value) != null && name.equals("transfer-encoding")) {
                throw new IOException("more than one Transfer-Encoding header");
            }
        }
        InputStream body;
        String encoding = headers.get("transfer-encoding");
        if (code < 200 || code == 204 || code == 304) {
            body = InputStream.nullInputStream();
        } else if (encoding != null) {
            if (!encoding.equalsIgnoreCase("chunked")) {
                throw new IOException("unsupported Transfer-Encoding: " + encoding);
            }
            body = new Chunked(in, socket);
        } else if (contentLength != null) {
            if (!isDigits(contentLength) || contentLength.length() > 18) {
                throw new IOException("malformed Content-Length");
            }
            body = new Bounded(in, Long.parseLong(contentLength), socket);
        } else {
            body = new Bounded(in, Long.MAX_VALUE, socket);
        }
        return new Answer(code, headers, body);
    }

    /** The head's lines up to the empty one, at most {@link #MAX_HEAD_BYTES}; CRLF or LF endings. */
    private static String[] headLines(InputStream in) throws IOException {
        java.util.List<String> lines = new java.util.ArrayList<>();
        int total = 0;
        while (true) {
            String line = line(in, MAX_HEAD_BYTES - total);
            if (line == null) {
                throw new IOException("the connection closed before the answer's head ended");
            }
            total += line.length() + 2;
            if (line.isEmpty()) {
                if (lines.isEmpty()) {
                    throw new IOException("empty answer head");
                }
                return lines.toArray(String[]::new);
            }
            if (lines.size() > MAX_HEADERS || line.charAt(0) == ' ' || line.charAt(0) == '\t') {
                throw new IOException("malformed answer head");
            }
            lines.add(line);
        }
    }

    /** One line without its CRLF (or LF), ASCII without control characters; null at the end of the stream. */
    private static String line(InputStream in, int max) throws IOException {
        StringBuilder line = new StringBuilder(64);
        while (true) {
            int b = in.read();
            if (b < 0) {
                if (line.isEmpty()) {
                    return null;
                }
                throw new IOException("the connection closed inside a line");
            }
            if (b == '\n') {
                int n = line.length();
                if (n > 0 && line.charAt(n - 1) == '\r') {
                    line.setLength(n - 1);
                }
                return line.toString();
            }
            if (line.length() >= max) {
                throw new IOException("the answer's head is larger than " + MAX_HEAD_BYTES + " bytes");
            }
            if (b != '\r' && b != '\t' && (b < 0x20 || b > 0x7e)) {
                throw new IOException("a control or non-ASCII byte in the answer's head");
            }
            line.append((char) b);
        }
    }

    private static boolean isDigits(String s) {
        if (s.isEmpty()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) < '0' || s.charAt(i) > '9') {
                return false;
            }
        }
        return true;
    }

    private static boolean isToken(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!(Character.isLetterOrDigit(c) && c < 0x80 || "!#$%&'*+-.^_`|~".indexOf(c) >= 0)) {
                return false;
            }
        }
        return true;
    }

    /** A body of known length (or to the end of the connection); closing it closes the connection. */
    private static final class Bounded extends InputStream {
        private final InputStream in;
        private final Socket socket;
        private long left;

        Bounded(InputStream in, long length, Socket socket) {
            this.in = in;
            this.left = length;
            this.socket = socket;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (left <= 0) {
                return -1;
            }
            int n = in.read(b, off, (int) Math.min(len, left));
            if (n < 0) {
                if (left != Long.MAX_VALUE) {
                    throw new IOException("the connection closed before the answer's body ended");
                }
                left = 0;
                return -1;
            }
            if (left != Long.MAX_VALUE) {
                left -= n;
            }
            return n;
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    /** A chunked body (RFC 9112 section 7.1), trailers read and ignored; closing it closes the connection. */
    private static final class Chunked extends InputStream {
        private final InputStream in;
        private final Socket socket;
        private long left;
        private boolean done;

        Chunked(InputStream in, Socket socket) {
            this.in = in;
            this.socket = socket;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            while (left == 0 && !done) {
                nextChunk();
            }
            if (done) {
                return -1;
            }
            int n = in.read(b, off, (int) Math.min(len, left));
            if (n < 0) {
                throw new IOException("the connection closed inside a chunk");
            }
            left -= n;
            if (left == 0) {
                String end = line(in, 2);
                if (end == null || !end.isEmpty()) {
                    throw new IOException("a chunk does not end with CRLF");
                }
            }
            return n;
        }

        private void nextChunk() throws IOException {
            String sizeLine = line(in, MAX_CHUNK_LINE);
            if (sizeLine == null) {
                throw new IOException("the connection closed before the last chunk");
            }
            int semicolon = sizeLine.indexOf(';');
            String hex = (semicolon < 0 ? sizeLine : sizeLine.substring(0, semicolon)).strip();
            if (hex.isEmpty() || hex.length() > 15 || !hex.chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
                throw new IOException("malformed chunk size");
            }
            long size = Long.parseLong(hex, 16);
            if (size == 0) {
                // Trailers, if any, up to the empty line.
                for (int i = 0; ; i++) {
                    String trailer = line(in, MAX_HEAD_BYTES);
                    if (trailer == null || trailer.isEmpty()) {
                        break;
                    }
                    if (i >= MAX_HEADERS) {
                        throw new IOException("too many trailers");
                    }
                }
                done = true;
            } else {
                left = size;
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
