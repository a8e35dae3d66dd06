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
    private final ArrayDeque<Byte> bytes = new ArrayDeque<>();
    private boolean writeClosed;
    private boolean closed;

    synchronized void feed(byte[] data) {
        for (byte b : data) {
            bytes.add(b);
        }
        notifyAll();
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
    public synchronized int read() throws IOException {
        while (bytes.isEmpty()) {
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
        return bytes.poll() & 0xff;
    }

    @Override
    public synchronized int read(byte[] into, int offset, int length) throws IOException {
        if (length == 0) {
            return 0;
        }
        int first = read();
        if (first < 0) {
            return -1;
        }
        into[offset] = (byte) first;
        int count = 1;
        while (count < length && !bytes.isEmpty()) {
            into[offset + count++] = bytes.poll();
        }
        return count;
    }

    @Override
    public synchronized void close() {
        closed = true;
        notifyAll();
    }
}
