package io.mcpsandbox.runtime.docker;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.async.ResultCallback;
import com.github.dockerjava.api.model.Frame;
import com.github.dockerjava.api.model.StreamType;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.Pipe;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A container's stdio through one Engine API attach: its stdin is fed from our channel to the agent, its stdout
 * (the agent's frames) and stderr (the agent's log) are demultiplexed into two streams of ours. OS pipes sit in
 * between: a reader that stops reading stops the attach (back-pressure), and their ends close cleanly from any
 * thread (a Java piped stream breaks when the thread that last wrote it ends).
 */
final class AttachedChannel implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(AttachedChannel.class);

    private final Pipe toAgent;
    private final Pipe fromAgent;
    private final Pipe agentLog;
    private volatile ResultCallback.Adapter<Frame> attach;

    AttachedChannel() {
        try {
            toAgent = Pipe.open();
            fromAgent = Pipe.open();
            agentLog = Pipe.open();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot make the pipes of a Docker attach", e);
        }
    }

    /** Attaches to the created container; returns once the daemon streams (before the container starts). */
    void attach(DockerClient streams, String containerId, String name) {
        ResultCallback.Adapter<Frame> callback = new ResultCallback.Adapter<>() {
            @Override
            public void onNext(Frame frame) {
                Pipe target = frame.getStreamType() == StreamType.STDOUT ? fromAgent
                        : frame.getStreamType() == StreamType.STDERR ? agentLog : null;
                if (target != null && frame.getPayload() != null) {
                    write(target, frame.getPayload(), name);
                }
            }

            @Override
            public void onError(Throwable e) {
                log.debug("attach of {} ended: {}", name, e.toString());
                endOutput();
            }

            @Override
            public void onComplete() {
                endOutput();
            }
        };
        attach = streams.attachContainerCmd(containerId).withStdIn(Channels.newInputStream(toAgent.source()))
                .withStdOut(true).withStdErr(true).withFollowStream(true).withLogs(false).exec(callback);
        try {
            if (!callback.awaitStarted(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("the attach to " + name + " did not start within 30 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while attaching to " + name, e);
        }
    }

    OutputStream toAgent() {
        return Channels.newOutputStream(toAgent.sink());
    }

    InputStream fromAgent() {
        return Channels.newInputStream(fromAgent.source());
    }

    InputStream log() {
        return Channels.newInputStream(agentLog.source());
    }

    private static void write(Pipe target, byte[] bytes, String name) {
        try {
            ByteBuffer buffer = ByteBuffer.wrap(bytes);
            while (buffer.hasRemaining()) {
                target.sink().write(buffer);
            }
        } catch (IOException e) {
            log.debug("{}: our end of its stream is closed: {}", name, e.toString()); // we stopped listening
        }
    }

    /** The container's output ended: our readers see end of stream. */
    private void endOutput() {
        closeQuietly(fromAgent.sink());
        closeQuietly(agentLog.sink());
    }

    @Override
    public void close() {
        ResultCallback.Adapter<Frame> a = attach;
        if (a != null) {
            closeQuietly(a);
        }
        endOutput();
        for (Pipe p : new Pipe[] {toAgent, fromAgent, agentLog}) {
            closeQuietly(p.sink());
            closeQuietly(p.source());
        }
    }

    private static void closeQuietly(Closeable c) {
        try {
            c.close();
        } catch (IOException | RuntimeException ignored) {
            // closing
        }
    }
}
