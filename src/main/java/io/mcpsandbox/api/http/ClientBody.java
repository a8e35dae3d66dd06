package io.mcpsandbox.api.http;

import java.io.IOException;
import java.io.InputStream;

/**
 * A request's body as read, at most {@code limit} bytes of it, remembering whether reading it failed: a broken
 * upload is the client's fault, not the session's (its message says so).
 */
final class ClientBody extends InputStream {
    private final InputStream in;
    private long left;
    private volatile IOException failure;

    ClientBody(InputStream in, long limit) {
        this.in = in;
        this.left = limit;
    }

    /** Why reading the body failed; null when it did not. */
    IOException failure() {
        return failure;
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
        try {
            int n = in.read(b, off, (int) Math.min(len, left));
            if (n > 0) {
                left -= n;
            }
            return n;
        } catch (IOException e) {
            failure = e;
            throw e;
        } catch (RuntimeException e) {
            failure = new IOException(e);
            throw failure;
        }
    }
}
