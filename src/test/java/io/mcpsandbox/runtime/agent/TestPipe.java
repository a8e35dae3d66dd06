package io.mcpsandbox.runtime.agent;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayDeque;

/**
 * The agent's side of a channel in a test: the test feeds bytes, the reader blocks until there are some. Unlike
 * PipedInputStream it does not care which thread wrote, and {@link #close()} wakes a blocked read (as the
 * real FIFOs do when the host closes them).
 */
final class TestPipe extends InputStream {
    private final ArrayDeque<byte[]> chunks = new ArrayDeque<>();
    private int offset;
    private boolean writeClosed;
    private boolean closed;

    synchronized void feed(byte[] data) {
        if (data.length > 0) {
            chunks.add(data.clone());
            notifyAll();
        }
    }

    /** The agent's end of stream: reads return -1 once the bytes fed are read. */
    synchronized void closeWrite() {
        writeClosed = true;
        notifyAll();
    }

    synchronized boolean isClosed() {
        return closed;
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public synchronized int read(byte[] into, int at, int length) throws IOException {
        if (length == 0) {
            return 0;
        }
        while (chunks.isEmpty()) {
            if (closed) {
                throw new IOException("pipe closed");
            }
            if (writeClosed) {
                return -1;
            }
            try {
                wait();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted");
            }
        }
        if (closed) {
            throw new IOException("pipe closed");
        }
        byte[] head = chunks.peek();
        int count = Math.min(length, head.length - offset);
        System.arraycopy(head, offset, into, at, count);
        offset += count;
        if (offset == head.length) {
            chunks.poll();
            offset = 0;
        }
        return count;
    }

    @Override
    public synchronized void close() {
        closed = true;
        notifyAll();
    }
}
