package io.mcpsandbox.runtime.agent;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Records a process's events as short strings, and its output. */
class RecordingListener implements ProcessListener {
    private final List<String> events = new ArrayList<>();
    private final ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    private final ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    private boolean keepOutput = true;
    private long outputChunks;
    private IOException failure;

    /** Counts chunks without keeping them (for the large streams). */
    RecordingListener discardOutput() {
        keepOutput = false;
        return this;
    }

    synchronized List<String> events() {
        return List.copyOf(events);
    }

    synchronized boolean ended() {
        return !events.isEmpty() && events.getLast().matches("(exited|startFailed|failed).*");
    }

    synchronized String stdout() {
        return stdout.toString(StandardCharsets.UTF_8);
    }

    synchronized String stderr() {
        return stderr.toString(StandardCharsets.UTF_8);
    }

    synchronized long outputChunks() {
        return outputChunks;
    }

    synchronized IOException failure() {
        return failure;
    }

    @Override
    public synchronized void started(long pid) {
        events.add("started " + pid);
    }

    @Override
    public synchronized void stdout(byte[] chunk) {
        outputChunks++;
        if (keepOutput) {
            stdout.writeBytes(chunk);
            events.add("stdout " + chunk.length);
        }
    }

    @Override
    public synchronized void stderr(byte[] chunk) {
        outputChunks++;
        if (keepOutput) {
            stderr.writeBytes(chunk);
            events.add("stderr " + chunk.length);
        }
    }

    @Override
    public synchronized void exited(AgentExit exit) {
        events.add("exited " + exit);
    }

    @Override
    public synchronized void startFailed(String reason) {
        events.add("startFailed " + reason);
    }

    @Override
    public synchronized void failed(IOException cause) {
        failure = cause;
        events.add("failed " + cause.getMessage());
    }
}
