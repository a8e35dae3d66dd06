package io.mcpsandbox.runtime.microvm;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The guest's console as the host reads it (the agent's log, the guest kernel's messages), counting the guest
 * kernel's OOM kills on the way: inside a VM the OOM killer is the guest's, and the host's cgroup never sees it.
 * The guest can only lie about its own run. Lines are looked at up to {@link #MAX_LINE} bytes, so a flood
 * costs nothing but the reading.
 */
final class GuestConsole extends FilterInputStream {
    static final int MAX_LINE = 256;
    /** What the guest kernel prints when its OOM killer kills (mm/oom_kill.c). */
    private static final String OOM_KILL = "Out of memory: Killed process";

    private final byte[] line = new byte[MAX_LINE];
    private int length;
    private final AtomicLong oomKills = new AtomicLong();

    GuestConsole(InputStream console) {
        super(console);
    }

    long oomKills() {
        return oomKills.get();
    }

    @Override
    public int read() throws IOException {
        int b = super.read();
        if (b >= 0) {
            see((byte) b);
        }
        return b;
    }

    @Override
    public int read(byte[] buffer, int offset, int count) throws IOException {
        int n = super.read(buffer, offset, count);
        for (int i = 0; i < n; i++) {
            see(buffer[offset + i]);
        }
        return n;
    }

    private void see(byte b) {
        if (b == '\n') {
            if (new String(line, 0, length, StandardCharsets.ISO_8859_1).contains(OOM_KILL)) {
                oomKills.incrementAndGet();
            }
            length = 0;
        } else if (length < MAX_LINE) {
            line[length++] = b;
        }
    }
}
