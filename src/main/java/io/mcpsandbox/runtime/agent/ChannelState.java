package io.mcpsandbox.runtime.agent;

import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The order rules over the agent's frames: {@code ready} first and once, then every frame routed to the
 * process the host started under its stream id (each process keeps its own rules). Also the table of
 * pending and running processes, bounded at {@link AgentProtocol#MAX_PROCESSES}, and of the file operations
 * waiting for their file_done (open writes bounded at {@link AgentProtocol#MAX_OPEN_WRITES}); processes and
 * file operations share the ids. Then the channel's end: once ended (first cause wins), every process still
 * pending or running and every file operation still waiting gets that cause.
 */
final class ChannelState {
    private final Map<Integer, AgentProcess> live = new HashMap<>();
    /** Ended ids whose end was a start error (the others below nextId ended by exit): for precise messages. */
    private final BitSet startErrors = new BitSet();
    private final Map<Integer, FileOperation> files = new HashMap<>();
    /** Every id a file operation took: for precise messages. */
    private final BitSet fileIds = new BitSet();
    private int openWrites;
    private int nextId = 1;
    private boolean ready;
    private IOException ended;

    /**
     * Applies one frame (number {@code frame}, already checked by {@link FrameReader}). Returns the agent's
     * name for {@code ready}, otherwise null.
     */
    String accept(long frame, AgentFrame f) throws IOException {
        // Even before ready: an agent may fail before it can say ready, and the channel ends either way.
        if (f.type() == FrameType.ERROR && f.stream() == 0) {
            throw new AgentGaveUpException(printable(f.text(0)));
        }
        if (f.type() == FrameType.READY) {
            markReady(frame);
            return printable(f.text(2));
        }
        if (f.type().isFileReply()) {
            acceptFile(frame, f);
            return null;
        }
        AgentProcess process = find(frame, f);
        if (process == null) {
            return null;
        }
        switch (f.type()) {
            case STARTED -> process.started(frame, f.u32(0));
            case STDOUT, STDERR -> process.output(frame, f.type(), f.payload());
            case STDIN_TAKEN -> process.stdinTaken(frame);
            case EXIT -> {
                process.exited(frame, new AgentExit(f.u8(0) == 0 ? AgentExit.Kind.EXITED : AgentExit.Kind.KILLED,
                        f.u8(1)));
                remove(process.id(), false);
            }
            case ERROR -> {
                process.startFailed(frame, printable(f.text(0)));
                remove(process.id(), true);
            }
            default -> throw new IllegalStateException("the reader passed " + f);
        }
        return null;
    }

    /** The id the next {@link #register} takes. */
    synchronized int nextId() {
        return nextId;
    }

    /** Adds the process the host is about to start under {@link #nextId()}. */
    synchronized AgentProcess register(ProcessListener listener, FrameWriter writer) throws IOException {
        if (ended != null) {
            throw new IOException("the agent channel has ended: " + ended.getMessage(), ended);
        }
        if (live.size() >= AgentProtocol.MAX_PROCESSES) {
            throw new IllegalStateException(live.size() + " processes are pending or running (the limit)");
        }
        if (nextId == Integer.MAX_VALUE) {
            throw new IllegalStateException("this channel has used all its process ids");
        }
        AgentProcess process = new AgentProcess(nextId++, listener, writer);
        live.put(process.id(), process);
        return process;
    }

    /**
     * Adds the file operation the host is about to ask for under {@link #nextId()}.
     *
     * @param limit maxBytes of a read, maxEntries of a listing
     * @param sink where a read's bytes go
     */
    synchronized FileOperation registerFile(FileOperation.Kind kind, long limit, OutputStream sink)
            throws IOException {
        if (ended != null) {
            throw new IOException("the agent channel has ended: " + ended.getMessage(), ended);
        }
        if (kind == FileOperation.Kind.WRITE && openWrites >= AgentProtocol.MAX_OPEN_WRITES) {
            throw new IllegalStateException(openWrites + " file writes are open (the limit)");
        }
        if (nextId == Integer.MAX_VALUE) {
            throw new IllegalStateException("this channel has used all its ids");
        }
        FileOperation operation = new FileOperation(nextId++, kind, limit, sink);
        files.put(operation.id(), operation);
        fileIds.set(operation.id());
        if (kind == FileOperation.Kind.WRITE) {
            openWrites++;
        }
        return operation;
    }

    synchronized int liveCount() {
        return live.size();
    }

    /**
     * Ends the channel with {@code cause}: returns the processes that were still live (the caller fails them),
     * or null if the channel had ended already.
     */
    synchronized List<AgentProcess> end(IOException cause) {
        if (ended != null) {
            return null;
        }
        ended = cause;
        List<AgentProcess> orphans = new ArrayList<>(live.values());
        live.clear();
        return orphans;
    }

    /** After {@link #end}: fails every file operation still waiting for its file_done with the end's cause. */
    synchronized void failFiles() {
        files.values().forEach(operation -> operation.fail(ended));
        files.clear();
        openWrites = 0;
    }

    synchronized IOException endCause() {
        return ended;
    }

    private synchronized void markReady(long frame) throws AgentProtocolException {
        if (ready) {
            throw AgentProtocolException.at(frame, "a second ready");
        }
        ready = true;
    }

    /** The live process the frame names, null when the channel has ended meanwhile; else a violation. */
    private synchronized AgentProcess find(long frame, AgentFrame f) throws AgentProtocolException {
        String what = f.type().label() + " for stream " + Integer.toUnsignedString(f.stream());
        if (!ready) {
            throw AgentProtocolException.at(frame, what + " before ready");
        }
        AgentProcess process = live.get(f.stream());
        if (process != null || ended != null) {
            return process;
        }
        if (f.stream() > 0 && fileIds.get(f.stream())) {
            throw AgentProtocolException.at(frame, what + ", which is a file operation");
        }
        if (f.stream() > 0 && f.stream() < nextId) {
            throw AgentProtocolException.at(frame, what + (startErrors.get(f.stream())
                    ? " after its start error" : " after its exit"));
        }
        throw AgentProtocolException.at(frame, what + ", which the host never started");
    }

    private void acceptFile(long frame, AgentFrame f) throws AgentProtocolException {
        FileOperation operation = findFile(frame, f);
        if (operation == null) {
            return;
        }
        switch (f.type()) {
            case FILE_DATA -> operation.data(frame, f.payload());
            case FILE_ENTRY -> operation.entry(frame, f);
            case FILE_DONE -> {
                operation.done(frame, f.u8(0), f.u8(0) == 1 ? printable(f.text(1)) : null);
                removeFile(operation);
            }
            default -> throw new IllegalStateException("not a file reply: " + f);
        }
    }

    /** The waiting file operation the frame names, null when the channel has ended meanwhile; else a violation. */
    private synchronized FileOperation findFile(long frame, AgentFrame f) throws AgentProtocolException {
        String what = f.type().label() + " for stream " + Integer.toUnsignedString(f.stream());
        if (!ready) {
            throw AgentProtocolException.at(frame, what + " before ready");
        }
        FileOperation operation = files.get(f.stream());
        if (operation != null || ended != null) {
            return operation;
        }
        if (f.stream() > 0 && fileIds.get(f.stream())) {
            throw AgentProtocolException.at(frame, what + " after its file_done");
        }
        if (f.stream() > 0 && f.stream() < nextId) {
            throw AgentProtocolException.at(frame, what + ", which is a process");
        }
        throw AgentProtocolException.at(frame, what + ", which the host never started");
    }

    private synchronized void removeFile(FileOperation operation) {
        if (files.remove(operation.id()) != null && operation.kind() == FileOperation.Kind.WRITE) {
            openWrites--;
        }
    }

    private synchronized void remove(int id, boolean startError) {
        live.remove(id);
        startErrors.set(id, startError);
    }

    /**
     * The agent's text as one printable line for messages and logs: control characters (newlines, escapes),
     * format characters (bidi overrides) and line separators become '?'.
     */
    static String printable(String text) {
        StringBuilder out = new StringBuilder(text.length());
        text.codePoints().forEach(c -> out.appendCodePoint(hidden(c) ? '?' : c));
        return out.toString();
    }

    private static boolean hidden(int c) {
        int type = Character.getType(c);
        return Character.isISOControl(c) || type == Character.FORMAT || type == Character.LINE_SEPARATOR
                || type == Character.PARAGRAPH_SEPARATOR;
    }
}
