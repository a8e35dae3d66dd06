package io.mcpsandbox.network;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.BufferUnderflowException;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;

/**
 * The first TLS record of a tunnel, read and parsed strictly to find the server name (SNI) the client asks
 * for. Only what the check needs is read: one handshake record of at most {@value #MAX_RECORD_BYTES} bytes
 * holding exactly one whole ClientHello (a hello split over records is refused: browsers, curl, Python and the
 * JDK send one record). Every length must add up; an extension twice, or more than one host name, is refused.
 * The record is passed on unchanged; nothing is decrypted (there is nothing to decrypt yet).
 *
 * @param record     the bytes read (header included), to send upstream as they are
 * @param serverName the SNI host name, normalized; null when the hello names none
 */
public record TlsClientHello(byte[] record, String serverName) {
    static final int MAX_RECORD_BYTES = 16 * 1024;
    private static final int HEADER_BYTES = 5;

    /** Why the first bytes of a tunnel are not a ClientHello this proxy accepts. */
    public static final class NotAClientHello extends Exception {
        private final boolean nothingSent;

        public NotAClientHello(String reason) {
            this(reason, false);
        }

        private NotAClientHello(String reason, boolean nothingSent) {
            super(reason);
            this.nothingSent = nothingSent;
        }

        /** The tunnel ended before its first byte: a client that gave up, not an attempt to refuse. */
        public boolean nothingSent() {
            return nothingSent;
        }
    }

    /** Reads the first record from {@code in} and parses it; reads nothing past that record. */
    public static TlsClientHello read(InputStream in) throws IOException, NotAClientHello {
        byte[] header = in.readNBytes(HEADER_BYTES);
        if (header.length < HEADER_BYTES) {
            throw new NotAClientHello("not TLS (the tunnel ended before a TLS record)", header.length == 0);
        }
        if (header[0] != 0x16 || header[1] != 3 || (header[2] & 0xff) > 4) {
            throw new NotAClientHello("not TLS (the first bytes are not a TLS handshake record)");
        }
        int length = ((header[3] & 0xff) << 8) | (header[4] & 0xff);
        if (length < 4 || length > MAX_RECORD_BYTES) {
            throw new NotAClientHello("malformed TLS record length");
        }
        byte[] record = new byte[HEADER_BYTES + length];
        System.arraycopy(header, 0, record, 0, HEADER_BYTES);
        int n = in.readNBytes(record, HEADER_BYTES, length);
        if (n < length) {
            throw new NotAClientHello("truncated TLS record");
        }
        try {
            return new TlsClientHello(record, serverName(ByteBuffer.wrap(record, HEADER_BYTES, length).slice()));
        } catch (BufferUnderflowException | IndexOutOfBoundsException | IllegalArgumentException e) {
            throw new NotAClientHello("malformed ClientHello");
        }
    }

    private static String serverName(ByteBuffer body) throws NotAClientHello {
        if (body.get() != 1) {
            throw new NotAClientHello("not a ClientHello");
        }
        int helloLength = u24(body);
        if (helloLength != body.remaining()) {
            throw new NotAClientHello("the ClientHello does not fill exactly one record");
        }
        body.getShort(); // legacy_version
        body.position(body.position() + 32); // random
        skip(body, u8(body), 32);
        int suites = u16(body);
        if (suites < 2 || suites % 2 != 0) {
            throw new NotAClientHello("malformed cipher suites");
        }
        skip(body, suites, Integer.MAX_VALUE);
        int compressions = u8(body);
        if (compressions < 1) {
            throw new NotAClientHello("malformed compression methods");
        }
        skip(body, compressions, Integer.MAX_VALUE);
        if (!body.hasRemaining()) {
            return null;
        }
        int extensionsLength = u16(body);
        if (extensionsLength != body.remaining()) {
            throw new NotAClientHello("malformed extensions length");
        }
        Set<Integer> seen = new HashSet<>();
        String serverName = null;
        while (body.hasRemaining()) {
            int type = u16(body);
            int length = u16(body);
            if (length > body.remaining()) {
                throw new NotAClientHello("malformed extension length");
            }
            ByteBuffer data = body.slice(body.position(), length);
            skip(body, length, Integer.MAX_VALUE);
            if (!seen.add(type)) {
                throw new NotAClientHello("an extension appears twice");
            }
            if (type == 0) {
                serverName = hostName(data);
            }
        }
        return serverName;
    }

    private static String hostName(ByteBuffer data) throws NotAClientHello {
        int listLength = u16(data);
        if (listLength != data.remaining() || listLength == 0) {
            throw new NotAClientHello("malformed server_name extension");
        }
        String name = null;
        while (data.hasRemaining()) {
            int nameType = u8(data);
            int length = u16(data);
            if (nameType != 0 || name != null || length == 0) {
                throw new NotAClientHello("malformed server_name extension");
            }
            byte[] bytes = new byte[length];
            data.get(bytes);
            String text = new String(bytes, StandardCharsets.US_ASCII);
            for (byte b : bytes) {
                if (b < 0x21 || b > 0x7e) {
                    throw new NotAClientHello("malformed server name");
                }
            }
            if (NameResolver.isLiteral(text)) {
                throw new NotAClientHello("an address as server name");
            }
            name = NameResolver.normalizeName(text);
        }
        return name;
    }

    private static void skip(ByteBuffer buffer, int count, int max) throws NotAClientHello {
        if (count > max || count > buffer.remaining()) {
            throw new NotAClientHello("malformed ClientHello");
        }
        buffer.position(buffer.position() + count);
    }

    private static int u8(ByteBuffer b) {
        return b.get() & 0xff;
    }

    private static int u16(ByteBuffer b) {
        return b.getShort() & 0xffff;
    }

    private static int u24(ByteBuffer b) {
        return (u8(b) << 16) | u16(b);
    }
}
