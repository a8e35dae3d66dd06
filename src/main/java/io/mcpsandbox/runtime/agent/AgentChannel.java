package io.mcpsandbox.runtime.agent;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The host's end of one agent's channel: a reader thread (a platform thread: its reads block) that parses the
 * agent's frames and applies the order rules, and the writer for the host's frames. The first violation, the
 * agent's end of stream, an I/O error or {@link #close()} ends the channel: both streams are closed (the
 * agent, reading end-of-file, kills its processes and exits) and every pending or running process gets
 * {@link ProcessListener#failed}. The caller still kills the sandbox: a broken agent is not trusted to go.
 */
public final class AgentChannel implements AutoCloseable {
    /** Or'ed into {@link #writeFile}'s mode: missing parent directories are made (0755), never through a link. */
    public static final int MAKE_PARENTS = AgentProtocol.MAKE_PARENTS;
    private static final Logger log = LoggerFactory.getLogger(AgentChannel.class);

    private final String name;
    private final InputStream fromAgent;
    private final OutputStream toAgent;
    private final FrameReader reader;
    private final FrameWriter writer;
    private final ChannelState state = new ChannelState();
    private final CompletableFuture<String> ready = new CompletableFuture<>();
    /** Held from choosing an id to writing its start frame: ids reach the agent in increasing order. */
    private final Object startLock = new Object();
    private final Thread readerThread;

    private AgentChannel(String name, InputStream fromAgent, OutputStream toAgent) {
        this.name = name;
        this.fromAgent = fromAgent;
        this.toAgent = toAgent;
        this.reader = new FrameReader(fromAgent);
        this.writer = new FrameWriter(toAgent);
        this.readerThread = Thread.ofPlatform().name("agent-channel-" + name).daemon().unstarted(this::readLoop);
    }

    /**
     * Starts reading the agent's frames and waits up to {@code handshake} for its {@code ready}. On a
     * violation, an end of stream or the timeout the channel is closed and the cause thrown.
     *
     * @param name for the reader thread and the log (the sandbox's id)
     */
    public static AgentChannel open(String name, InputStream fromAgent, OutputStream toAgent, Duration handshake)
            throws IOException {
        AgentChannel channel = new AgentChannel(name, fromAgent, toAgent);
        channel.readerThread.start();
        try {
            channel.ready.get(handshake.toNanos(), TimeUnit.NANOSECONDS);
            return channel;
        } catch (TimeoutException e) {
            channel.end(new AgentProtocolException("no ready frame within " + handshake.toMillis() + " ms"));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            channel.end(new InterruptedIOException("interrupted while waiting for the agent's ready"));
        } catch (ExecutionException e) {
            // The reader ended the channel; its cause is thrown below.
        }
        throw channel.state.endCause();
    }

    /** The agent's name and version from its {@code ready} (its claim, made printable). */
    public String agentName() {
        return ready.getNow("");
    }

    /**
     * Asks the agent to start a process; its events go to {@code listener}. Its stdin stays open until
     * {@link AgentProcess#closeStdin()} (call it at once when there is no input). At most
     * {@link AgentProtocol#MAX_PROCESSES} may be pending or running at once (else IllegalStateException).
     */
    public AgentProcess start(List<String> argv, Map<String, String> env, String cwd, ProcessListener listener)
            throws IOException {
        synchronized (startLock) {
            byte[] frame = FrameWriter.encodeStart(state.nextId(), argv, env, cwd);
            AgentProcess process = state.register(listener, writer);
            send(frame);
            return process;
        }
    }

    /**
     * Writes {@code content} (read to its end) to the regular file {@code path} in the sandbox with permission
     * bits {@code mode}, replacing the file there; the parent directory must exist. The agent writes a temporary
     * file beside it and renames it over {@code path} at the end, so a failed or aborted write leaves the old
     * file. No symbolic link on the path is followed (one is an {@link AgentFileException}). At most
     * {@link AgentProtocol#MAX_OPEN_WRITES} writes may be open at once (else IllegalStateException).
     *
     * @param maxBytes the most {@code content} may hold: more aborts the write with a FileTooLargeException
     * @param timeout for the whole write; checked between frames (an agent that stops reading blocks the
     *        caller until the channel ends, as stdin does)
     * @throws AgentFileException the agent could not write it (the channel stays open)
     * @throws TimeoutException the write was aborted, or its end did not come in time
     */
    public void writeFile(String path, int mode, InputStream content, long maxBytes, Duration timeout)
            throws IOException, TimeoutException {
        if (maxBytes < 0) {
            throw new IllegalArgumentException("maxBytes " + maxBytes + " is negative");
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        FileOperation write = request(FileOperation.Kind.WRITE, 0, null,
                id -> FrameWriter.encodeFileWrite(id, mode, path));
        int id = write.id();
        byte[] buffer = new byte[AgentProtocol.MAX_PAYLOAD];
        long total = 0;
        // An early file_done (an error: the agent ignores what follows) ends the sending.
        while (!write.isDone()) {
            if (System.nanoTime() - deadline >= 0) {
                abort(write);
                throw new TimeoutException("writing " + ChannelState.printable(path) + " did not finish in time");
            }
            int n;
            try {
                n = content.readNBytes(buffer, 0, buffer.length);
            } catch (IOException | RuntimeException e) {
                abort(write);
                throw e;
            }
            if (n == 0) {
                write.commit();
                send(FrameWriter.encode(FrameType.FILE_END, id, buffer, 0, 0));
                break;
            }
            if (total + n > maxBytes) {
                abort(write);
                throw new FileTooLargeException(path, maxBytes);
            }
            total += n;
            send(FrameWriter.encode(FrameType.FILE_CHUNK, id, buffer, 0, n));
        }
        awaitDone(write, deadline, "write", "writing", path);
    }

    /**
     * Copies the regular file {@code path} in the sandbox into {@code sink}, at most {@code maxBytes} of it.
     * No symbolic link on the path is followed; a FIFO, socket, device or directory is an AgentFileException.
     * The sink is written on the channel's reader thread (a slow sink slows the channel; like a listener, it must
     * not use this channel). After an error or a timeout the sink may hold part of the file.
     *
     * @return whether the file is longer than {@code maxBytes} (the sink then holds its first maxBytes)
     * @throws AgentFileException the agent could not read it (the channel stays open)
     * @throws TimeoutException the read did not end within {@code timeout} (the sink gets nothing more)
     */
    public boolean readFile(String path, long maxBytes, OutputStream sink, Duration timeout)
            throws IOException, TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        FileOperation read = request(FileOperation.Kind.READ, maxBytes, sink,
                id -> FrameWriter.encodeFileRead(id, maxBytes, path));
        FileOperation.Outcome outcome = awaitDone(read, deadline, "read", "reading", path);
        if (read.sinkFailure() != null) {
            throw read.sinkFailure();
        }
        return outcome.truncated();
    }

    /**
     * Lists the directory {@code dir} in the sandbox (not following any symbolic link), at most
     * {@code maxEntries} entries; "." and ".." are left out.
     *
     * @throws AgentFileException the agent could not list it (the channel stays open)
     */
    public DirectoryListing listDirectory(String dir, int maxEntries, Duration timeout)
            throws IOException, TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        FileOperation list = request(FileOperation.Kind.LIST, maxEntries, null,
                id -> FrameWriter.encodeFileList(id, maxEntries, dir));
        FileOperation.Outcome outcome = awaitDone(list, deadline, "list", "listing", dir);
        return new DirectoryListing(list.entries(), outcome.truncated());
    }

    /**
     * Deletes {@code path} in the sandbox: a regular file, a symbolic link (never its target), any other
     * non-directory, or an empty directory. No symbolic link before the last component is followed.
     *
     * @throws AgentFileException the agent could not delete it (missing, a directory not empty, ...)
     */
    public void deleteFile(String path, Duration timeout) throws IOException, TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        FileOperation delete = request(FileOperation.Kind.DELETE, 0, null,
                id -> FrameWriter.encodeFileDelete(id, path));
        awaitDone(delete, deadline, "delete", "deleting", path);
    }

    /**
     * Sends one file operation's first frame under a new id, registered before it is sent (its answer may come
     * at once). Held like a start: ids reach the agent in increasing order.
     */
    private FileOperation request(FileOperation.Kind kind, long limit, OutputStream sink,
                                  java.util.function.IntFunction<byte[]> frameFor) throws IOException {
        synchronized (startLock) {
            byte[] frame = frameFor.apply(state.nextId());
            FileOperation operation = state.registerFile(kind, limit, sink);
            send(frame);
            return operation;
        }
    }

    /** Waits for the operation's file_done; the agent's refusal becomes an AgentFileException. */
    private static FileOperation.Outcome awaitDone(FileOperation operation, long deadline, String verb,
                                                   String doing, String path) throws IOException, TimeoutException {
        FileOperation.Outcome outcome = operation.await(deadline, doing + " " + ChannelState.printable(path));
        if (outcome.error() != null) {
            throw new AgentFileException(verb, path, outcome.error());
        }
        return outcome;
    }

    /**
     * Asks the agent to listen on 127.0.0.1:{@code port} inside the sandbox (once per channel) and waits for its
     * answer; every connection a program there then opens goes to {@code listener} as an {@link AgentConnection}
     * (at most {@link AgentProtocol#MAX_CONNECTIONS} at once: the agent stops accepting meanwhile). A timeout
     * leaves the request standing: a late net_status 0 still hands connections to the listener, so a caller
     * that gives up ends the channel.
     *
     * @throws AgentListenException the agent could not listen (the port is taken, ...): the channel stays open
     * @throws TimeoutException no answer within {@code timeout}
     * @throws IllegalStateException this channel has asked once already
     */
    public void listenForEgress(int port, EgressListener listener, Duration timeout)
            throws IOException, TimeoutException {
        byte[] frame = FrameWriter.encodeNetListen(port);
        Objects.requireNonNull(listener, "listener");
        CompletableFuture<Optional<String>> status = state.requestListen(listener, this::send);
        send(frame);
        Optional<String> refusal;
        try {
            refusal = status.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for the agent's net_status");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException cause) {
                throw cause;
            }
            throw new IOException("net_listen failed", e.getCause());
        } catch (TimeoutException e) {
            throw new TimeoutException("the agent did not answer net_listen within " + timeout.toMillis() + " ms");
        }
        if (refusal.isPresent()) {
            throw new AgentListenException(port, refusal.get());
        }
    }

    /** Relayed connections open (from the host's view). */
    public int openConnections() {
        return state.openConnections();
    }

    /** Tells the agent to kill every process and exit; the channel then ends with the agent's end of stream. */
    public void shutdown() throws IOException {
        send(FrameWriter.encode(FrameType.SHUTDOWN, 0, new byte[0], 0, 0));
    }

    /** Processes pending or running. */
    public int activeProcesses() {
        return state.liveCount();
    }

    /** Why the channel ended, empty while it is open. */
    public Optional<IOException> endCause() {
        return Optional.ofNullable(state.endCause());
    }

    /** Ends the channel: closes both streams, stops the reader, fails every pending or running process. */
    @Override
    public void close() {
        end(new IOException("the host closed the agent channel"));
    }

    boolean readerAlive() {
        return readerThread.isAlive();
    }

    private void send(byte[] frame) throws IOException {
        try {
            writer.write(frame);
        } catch (IOException e) {
            end(e);
            throw e;
        }
    }

    /**
     * Ends a write without replacing its file; the agent still answers (an error) and the answer goes nowhere.
     * Quiet: the caller throws why it aborted, and a channel that fails here has ended already.
     */
    private void abort(FileOperation write) {
        write.abandon();
        if (!write.isDone()) {
            try {
                send(FrameWriter.encode(FrameType.FILE_ABORT, write.id(), new byte[0], 0, 0));
            } catch (IOException e) {
                log.debug("aborting a write on agent channel {}: {}", name, e.toString());
            }
        }
    }

    private void readLoop() {
        try {
            while (state.endCause() == null) {
                Optional<AgentFrame> frame = reader.next();
                if (frame.isEmpty()) {
                    end(new EOFException("the agent's channel reached end of stream"));
                    return;
                }
                String agent = state.accept(reader.framesRead(), frame.get());
                if (agent != null) {
                    ready.complete(agent);
                }
            }
        } catch (IOException e) {
            end(e);
        } catch (RuntimeException e) {
            end(new IOException("the agent channel's reader failed", e));
            throw e;
        }
    }

    private void end(IOException cause) {
        List<AgentProcess> orphans = state.end(cause);
        if (orphans == null) {
            return;
        }
        closeQuietly();
        if (Thread.currentThread() != readerThread) {
            readerThread.interrupt();
        }
        ready.completeExceptionally(cause);
        state.failFiles();
        state.failConnections();
        orphans.forEach(process -> process.fail(cause));
        if (cause instanceof AgentProtocolException || cause instanceof AgentGaveUpException) {
            log.warn("agent channel {} ended: {}", name, cause.getMessage());
        } else {
            log.debug("agent channel {} ended: {}", name, cause.getMessage());
        }
    }

    private void closeQuietly() {
        try {
            fromAgent.close();
        } catch (IOException | RuntimeException e) {
            log.debug("closing agent channel {} input: {}", name, e.toString());
        }
        try {
            toAgent.close();
        } catch (IOException | RuntimeException e) {
            log.debug("closing agent channel {} output: {}", name, e.toString());
        }
    }
}
