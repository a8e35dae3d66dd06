package io.mcpsandbox.runtime.agent;

import java.io.IOException;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The order rules over the agent's frames: {@code ready} first and once, then every frame routed to the
 * process the host started under its stream id (each process keeps its own rules). Also the table of
 * pending and running processes, bounded at {@link AgentProtocol#MAX_PROCESSES}, and the channel's end:
 * once ended (first cause wins), every process still pending or running gets that cause.
 */
final class ChannelState {
    private final Map<Integer, AgentProcess> live = new HashMap<>();
    /** Ended ids whose end was a start error (the others below nextId ended by exit): for precise messages. */
    private final BitSet startErrors = new BitSet();
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
        AgentProcess process = find(frame, f);
        if (process == null) {
            return null;
        }
        switch (f.type()) {
            case STARTED -> process.started(frame, f.u32(0));
            case STDOUT, STDERR -> process.output(frame, f.type(), f.payload());
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
        if (f.stream() > 0 && f.stream() < nextId) {
            throw AgentProtocolException.at(frame, what + (startErrors.get(f.stream())
                    ? " after its start error" : " after its exit"));
        }
        throw AgentProtocolException.at(frame, what + ", which the host never started");
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
