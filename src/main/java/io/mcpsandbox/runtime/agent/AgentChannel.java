package io.mcpsandbox.runtime.agent;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
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
