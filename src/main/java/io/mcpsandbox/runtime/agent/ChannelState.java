package io.mcpsandbox.runtime.agent;

import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The order rules over the agent's frames: {@code ready} first and once, then every frame routed to the
 * process the host started under its stream id (each process keeps its own rules). Also the table of
 * pending and running processes, bounded at {@link AgentProtocol#MAX_PROCESSES}, and of the file operations
 * waiting for their file_done (open writes bounded at {@link AgentProtocol#MAX_OPEN_WRITES}); processes and
 * file operations share the ids. The egress relay: net_status only for the host's one net_listen, conn_open
 * only after net_status 0 with ever greater connection ids and at most {@link AgentProtocol#MAX_CONNECTIONS}
 * open, connection frames only for ids the agent opened (ignored once the id is dead: closed by the host or by
 * the agent's conn_closed), each connection keeping its own flow-control rules. Then the channel's end: once
 * ended (first cause wins), every process still pending or running, every file operation still waiting and
 * every connection gets that cause.
 */
final class ChannelState {
    private static final Logger log = LoggerFactory.getLogger(ChannelState.class);
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
    /** The answer to the host's net_listen: empty when listening, else the agent's reason; null before one. */
    private CompletableFuture<Optional<String>> listenStatus;
    private boolean listening;
    private EgressListener egress;
    private AgentConnection.FrameSink connectionSink;
    private final Map<Integer, AgentConnection> connections = new HashMap<>();
    /** The highest connection id opened so far (compared unsigned). */
    private int lastConnection = AgentProtocol.CONNECTION_BIT;

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
        if (f.type() == FrameType.NET_STATUS) {
            netStatus(frame, f);
            return null;
        }
        if (f.type().isConnectionFrame()) {
            acceptConnection(frame, f);
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

    /**
     * Records the host's one net_listen (sent right after): the returned future gets the agent's net_status, and
     * every connection it then opens goes to {@code listener}, its frames to {@code sink}.
     */
    synchronized CompletableFuture<Optional<String>> requestListen(EgressListener listener,
                                                                   AgentConnection.FrameSink sink) throws IOException {
        if (ended != null) {
            throw new IOException("the agent channel has ended: " + ended.getMessage(), ended);
        }
        if (listenStatus != null) {
            throw new IllegalStateException("this channel has sent its net_listen already");
        }
        egress = listener;
        connectionSink = sink;
        listenStatus = new CompletableFuture<>();
        return listenStatus;
    }

    synchronized int openConnections() {
        return connections.size();
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

    /** After {@link #end}: fails a net_listen still waiting and every open connection with the end's cause. */
    synchronized void failConnections() {
        if (listenStatus != null) {
            listenStatus.completeExceptionally(ended);
        }
        connections.values().forEach(connection -> connection.fail(ended));
        connections.clear();
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

    private synchronized void netStatus(long frame, AgentFrame f) throws AgentProtocolException {
        if (!ready) {
            throw AgentProtocolException.at(frame, "net_status before ready");
        }
        if (listenStatus == null) {
            throw AgentProtocolException.at(frame, "net_status without a net_listen");
        }
        if (listenStatus.isDone()) {
            if (ended != null) {
                return;
            }
            throw AgentProtocolException.at(frame, "a second net_status");
        }
        listening = f.u8(0) == 0;
        listenStatus.complete(listening ? Optional.empty() : Optional.of(printable(f.text(1))));
    }

    private void acceptConnection(long frame, AgentFrame f) throws AgentProtocolException {
        AgentConnection connection = findConnection(frame, f);
        if (connection == null) {
            return;
        }
        switch (f.type()) {
            case CONN_OPEN -> deliver(connection);
            case AGENT_CONN_DATA -> connection.agentData(frame, f.payload());
            case AGENT_CONN_EOF -> connection.agentEof(frame);
            case AGENT_CONN_ACK -> connection.agentAck(frame);
            case CONN_CLOSED -> connection.agentClosed();
            default -> throw new IllegalStateException("not a connection frame: " + f);
        }
    }

    /**
     * The connection the frame names (a new one for conn_open), null when it is dead or the channel has ended;
     * else a violation.
     */
    private synchronized AgentConnection findConnection(long frame, AgentFrame f) throws AgentProtocolException {
        String what = f.type().label() + " for connection " + Integer.toUnsignedString(f.stream());
        if (!ready) {
            throw AgentProtocolException.at(frame, what + " before ready");
        }
        if (ended != null) {
            return null;
        }
        int id = f.stream();
        if (f.type() == FrameType.CONN_OPEN) {
            if (!listening) {
                throw AgentProtocolException.at(frame, what + " before the agent listens");
            }
            if (Integer.compareUnsigned(id, lastConnection) <= 0) {
                throw AgentProtocolException.at(frame, what + ", not above the last connection id "
                        + Integer.toUnsignedString(lastConnection));
            }
            if (connections.size() >= AgentProtocol.MAX_CONNECTIONS) {
                throw AgentProtocolException.at(frame, what + " while " + connections.size()
                        + " are open (the limit)");
            }
            lastConnection = id;
            AgentConnection connection = new AgentConnection(id, connectionSink, () -> forgetConnection(id));
            connections.put(id, connection);
            return connection;
        }
        if (Integer.compareUnsigned(id, lastConnection) > 0) {
            throw AgentProtocolException.at(frame, what + ", which the agent never opened");
        }
        return f.type() == FrameType.CONN_CLOSED ? connections.remove(id) : connections.get(id);
    }

    private synchronized void forgetConnection(int id) {
        connections.remove(id);
    }

    /** Hands a new connection to the listener; one that throws gets the connection closed (off this thread). */
    private void deliver(AgentConnection connection) {
        try {
            egress.accepted(connection);
        } catch (RuntimeException e) {
            log.warn("the egress listener failed on connection {}", Integer.toUnsignedString(connection.id()), e);
            Thread.ofVirtual().start(connection::close);
        }
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
