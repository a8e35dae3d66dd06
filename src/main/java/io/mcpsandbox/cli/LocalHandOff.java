package io.mcpsandbox.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import tools.jackson.databind.node.ObjectNode;

/**
 * {@code exec} handing its request to a {@code serve --http} on this machine (see {@link LocalEndpoint}), to use the
 * server's warm pools instead of starting everything in this process. Only a request the server did not start
 * falls back to running here, so a program never runs twice.
 */
final class LocalHandOff {
    /** A server on this machine connects at once; one that does not is treated as absent. */
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);

    private LocalHandOff() {
    }

    /**
     * Runs {@code body} on the local server, printing as {@code exec} does, and returns exec's exit code; empty
     * when there is no usable local server or it did not start the execution (then the caller runs it here).
     *
     * @param debug say on stderr which path was taken and why
     */
    static Optional<Integer> tryRun(Path stateDir, ObjectNode body, boolean json, PrintWriter out, PrintWriter err,
                                    boolean debug) {
        LocalEndpoint endpoint;
        try {
            endpoint = LocalEndpoint.read(stateDir, Preflight.effectiveUid());
        } catch (LocalEndpoint.Unusable why) {
            note(debug, err, "runs in this process: " + why.getMessage());
            return Optional.empty();
        }
        SessionsClient client = SessionsClient.loopback(endpoint.url(), endpoint.token(), CONNECT_TIMEOUT);
        AtomicReference<String> running = new AtomicReference<>();
        // Interrupted (Ctrl-C, SIGTERM): the execution is stopped on the server as it would be here.
        Thread stopper = new Thread(() -> {
            String id = running.getAndSet(null);
            if (id != null) {
                client.terminate(id);
            }
        }, "exec-hand-off-stop");
        Runtime.getRuntime().addShutdownHook(stopper);
        try {
            SessionsClient.StreamedAnswer answer = client.executeStreaming(body, (toStderr, text) -> {
                if (!json) {
                    PrintWriter w = toStderr ? err : out;
                    w.print(text);
                    w.flush();
                }
            }, id -> {
                running.set(id);
                note(debug, err, "handed to the local server at " + endpoint.url() + " (pid " + endpoint.pid()
                        + "), execution " + id);
            });
            running.set(null);
            return Optional.of(SessionsCommand.printResult(answer.result(), json, answer.live(), out, err));
        } catch (SessionsClient.Failure f) {
            running.set(null);
            if (f.nothingRan) {
                note(debug, err, "runs in this process: the local server at " + endpoint.url() + " did not take "
                        + "it: " + f.getMessage());
                return Optional.empty();
            }
            err.println("mcp-sandbox exec: " + f.getMessage());
            err.flush();
            return Optional.of(f.exitCode);
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(stopper);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running or has run
            }
        }
    }

    private static void note(boolean debug, PrintWriter err, String text) {
        if (debug) {
            err.println("mcp-sandbox exec: " + text);
            err.flush();
        }
    }
}
