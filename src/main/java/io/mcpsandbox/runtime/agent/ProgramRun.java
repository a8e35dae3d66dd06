package io.mcpsandbox.runtime.agent;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * One program run through an agent's channel: started with its argv, environment and working directory, its
 * stdin fed (then closed) from a thread of its own, its output handed to a sink as it comes, and its end as a
 * future. Limits are not this class's: the caller counts the output it is handed and kills the sandbox.
 */
public final class ProgramRun {
    /** Where the program's output goes, chunk by chunk, on the channel's reader thread (see ProcessListener). */
    public interface OutputSink {
        void stdout(byte[] chunk);

        void stderr(byte[] chunk);
    }

    /** How the program's run ended. */
    public sealed interface End {
        /** It ran and ended (the agent's claim). */
        record Exited(AgentExit exit) implements End {
        }

        /** The agent could not start it; the reason is the agent's text, made printable. */
        record StartFailed(String reason) implements End {
        }

        /** The channel ended first: the agent (or the sandbox) is gone, broke the protocol, or was closed. */
        record Lost(IOException cause) implements End {
        }
    }

    private final CompletableFuture<End> end = new CompletableFuture<>();
    private final CompletableFuture<Void> initialStdin = new CompletableFuture<>();
    private volatile AgentProcess process;

    private ProgramRun() {
    }

    /**
     * Starts the program; {@code stdin} (null or empty for none) is written to it, then its stdin is closed.
     *
     * @throws IOException the channel failed while the start was sent
     */
    public static ProgramRun start(AgentChannel channel, List<String> argv, Map<String, String> env, String cwd,
                                   byte[] stdin, OutputSink sink) throws IOException {
        return start(channel, argv, env, cwd, stdin, false, sink);
    }

    /**
     * Starts the program; {@code stdin} (null or empty for none) is written to it, then its stdin is closed
     * unless {@code keepStdinOpen} (then the caller writes more through {@link #process()} after
     * {@link #initialStdinSent()}, and closes it).
     *
     * @throws IOException the channel failed while the start was sent
     */
    public static ProgramRun start(AgentChannel channel, List<String> argv, Map<String, String> env, String cwd,
                                   byte[] stdin, boolean keepStdinOpen, OutputSink sink) throws IOException {
        ProgramRun run = startHeld(channel, argv, env, cwd, sink);
        run.feed(stdin, keepStdinOpen);
        return run;
    }

    /**
     * Starts the program with its stdin open and nothing written to it: {@link #feed} sends its initial stdin
     * later (a warm pool's interpreter waits on its stdin for the host's go).
     *
     * @throws IOException the channel failed while the start was sent
     */
    public static ProgramRun startHeld(AgentChannel channel, List<String> argv, Map<String, String> env, String cwd,
                                       OutputSink sink) throws IOException {
        ProgramRun run = new ProgramRun();
        run.process = channel.start(argv, env, cwd, run.listener(sink));
        return run;
    }

    /**
     * Writes {@code stdin} (null or empty for none), then closes the program's stdin unless {@code keepStdinOpen};
     * {@link #initialStdinSent()} completes after. Once per run. A write that fits one frame goes out at once (the
     * agent takes a first frame without waiting for the program); a longer one from a thread of its own, since
     * its writes wait while the program does not read.
     */
    public void feed(byte[] stdin, boolean keepStdinOpen) throws IOException {
        AgentProcess p = process;
        if (stdin == null || stdin.length == 0 || stdin.length <= AgentProtocol.MAX_PAYLOAD) {
            try {
                if (stdin != null && stdin.length > 0) {
                    p.writeStdin(stdin);
                }
                if (!keepStdinOpen) {
                    p.closeStdin();
                }
            } catch (IllegalStateException e) {
                // its stdin was closed already: its end says how it went
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                initialStdin.complete(null);
            }
            return;
        }
        Thread.ofPlatform().daemon().name("stdin-" + p.id()).start(() -> {
            try {
                p.writeStdin(stdin);
                if (!keepStdinOpen) {
                    p.closeStdin();
                }
            } catch (IOException | IllegalStateException e) {
                // the program or its sandbox ended first: its end says how
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                initialStdin.complete(null);
            }
        });
    }

    /** Completes once the request's own stdin has been sent (or could not be). */
    public CompletableFuture<Void> initialStdinSent() {
        return initialStdin;
    }

    /** Completes once, with how it ended; never exceptionally. */
    public CompletableFuture<End> end() {
        return end;
    }

    public AgentProcess process() {
        return process;
    }

    private ProcessListener listener(OutputSink sink) {
        return new ProcessListener() {
            @Override
            public void started(long pid) {
                // nothing to do: output and the end are what count
            }

            @Override
            public void stdout(byte[] chunk) {
                sink.stdout(chunk);
            }

            @Override
            public void stderr(byte[] chunk) {
                sink.stderr(chunk);
            }

            @Override
            public void exited(AgentExit exit) {
                end.complete(new End.Exited(exit));
            }

            @Override
            public void startFailed(String reason) {
                end.complete(new End.StartFailed(reason));
            }

            @Override
            public void failed(IOException cause) {
                end.complete(new End.Lost(cause));
            }
        };
    }
}
