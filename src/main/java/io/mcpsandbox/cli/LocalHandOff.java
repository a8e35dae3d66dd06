package io.mcpsandbox.cli;

import io.mcpsandbox.model.ExecutionStatus;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code exec} handing its request to a {@code serve --http} on this machine (see {@link LocalEndpoint}), to use the
 * server's warm pools instead of starting everything in this process. Only a request the server did not start
 * falls back to running here, so a program never runs twice.
 *
 * <p>Start-up time is most of what a hand-off costs, so this path loads little: one HTTP/1.1 request over a plain
 * socket ({@link LoopbackHttp}, no {@code java.net.http}) and the NDJSON stream read with {@link StreamJson} (no
 * Jackson), with the output, exit status and --json line those of an execution run here. Only an answer that is not
 * a stream (an error before the execution began) is read with the REST client's code ({@link SessionsClient}).
 */
final class LocalHandOff {
    /** A server on this machine connects at once; one that does not is treated as absent. */
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(5);
    private static final String PATH = "/v1/executions";

    private LocalHandOff() {
    }

    /**
     * Runs {@code body} (a REST execution request, JSON) on the local server, printing as {@code exec} does, and
     * returns exec's exit code; empty when there is no usable local server or it did not start the execution (then
     * the caller runs it here).
     *
     * @param debug say on stderr which path was taken and why
     */
    static Optional<Integer> tryRun(Path stateDir, byte[] body, boolean json, PrintWriter out, PrintWriter err,
                                    boolean debug) {
        LocalEndpoint endpoint;
        try {
            endpoint = LocalEndpoint.read(stateDir, Preflight.effectiveUid());
        } catch (LocalEndpoint.Unusable why) {
            note(debug, err, "runs in this process: " + why.getMessage());
            return Optional.empty();
        }
        // http://HOST:PORT, as LocalEndpoint checked it.
        String hostPort = endpoint.url().substring("http://".length());
        int colon = hostPort.lastIndexOf(':');
        String host = hostPort.substring(0, colon);
        int port = Integer.parseInt(hostPort.substring(colon + 1));
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put("Accept", "application/json");
        headers.put("Authorization", "Bearer " + endpoint.token());
        AtomicReference<String> running = new AtomicReference<>();
        // Interrupted (Ctrl-C, SIGTERM): the execution is stopped on the server as it would be here.
        Thread stopper = new Thread(() -> {
            String id = running.getAndSet(null);
            if (id != null) {
                stop(host, port, headers, id);
            }
        }, "exec-hand-off-stop");
        Runtime.getRuntime().addShutdownHook(stopper);
        LoopbackHttp.Answer answer = null;
        try {
            Map<String, String> post = new LinkedHashMap<>(headers);
            post.put("Content-Type", "application/json");
            try {
                answer = LoopbackHttp.exchange(host, port, "POST", PATH + "?stream=true", post, body,
                        CONNECT_TIMEOUT, null);
            } catch (LoopbackHttp.NoConnection e) {
                String why = e.timedOut ? "no connection within " + CONNECT_TIMEOUT.toSeconds() + "s"
                        : "connection refused: " + e.getMessage();
                note(debug, err, "runs in this process: the local server at " + endpoint.url() + " did not take it: "
                        + "cannot reach it (" + why + ")");
                return Optional.empty();
            } catch (IOException e) {
                return Optional.of(failed(err, "cannot talk to the server at " + endpoint.url() + ": "
                        + describe(e), SessionsClient.UNREACHABLE));
            }
            if (!answer.header("Content-Type").orElse("").startsWith("application/x-ndjson")) {
                return notStreamed(endpoint, answer, json, out, err, debug);
            }
            boolean live = false;
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(answer.body(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    StreamJson.Event event = StreamJson.parseEvent(line);
                    String type = text(event.members().get("type"), "");
                    if (type.equals("started")) {
                        String id = text(event.members().get("executionId"), "");
                        running.set(id);
                        note(debug, err, "handed to the local server at " + endpoint.url() + " (pid "
                                + endpoint.pid() + "), execution " + id);
                    } else if (type.equals("stdout") || type.equals("stderr")) {
                        if (!json) {
                            PrintWriter w = type.equals("stderr") ? err : out;
                            w.print(text(event.members().get("data"), ""));
                            w.flush();
                        }
                        live = true;
                    } else if (type.equals("result")
                            && event.members().get("result") instanceof Map<?, ?> result) {
                        running.set(null);
                        return Optional.of(printResult(result, event.rawValues().get("result"), json, live, out,
                                err));
                    }
                }
            } catch (IOException | RuntimeException e) {
                running.set(null);
                return Optional.of(failed(err, "the server's stream broke off: " + e.getMessage(),
                        SessionsClient.FAILED));
            }
            running.set(null);
            return Optional.of(failed(err, "the server's stream ended without a result", SessionsClient.FAILED));
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(stopper);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running or has run
            }
            if (answer != null) {
                try {
                    answer.body().close();
                } catch (IOException e) {
                    // done with it
                }
            }
        }
    }

    /**
     * An answer that is not a stream: a result (a server that does not stream), or an error before the execution
     * began (then nothing ran: empty, to run it here). Rare, so read with the REST client's code and Jackson.
     */
    private static Optional<Integer> notStreamed(LocalEndpoint endpoint, LoopbackHttp.Answer answer, boolean json,
                                                 PrintWriter out, PrintWriter err, boolean debug) {
        SessionsClient client = new SessionsClient(endpoint.url(), endpoint.token(), CONNECT_TIMEOUT);
        try {
            return Optional.of(SessionsCommand.printResult(client.resultOf(answer.status(), answer::header,
                    answer.body()), json, false, out, err));
        } catch (SessionsClient.Failure f) {
            if (f.nothingRan) {
                note(debug, err, "runs in this process: the local server at " + endpoint.url() + " did not take "
                        + "it: " + f.getMessage());
                return Optional.empty();
            }
            return Optional.of(failed(err, f.getMessage(), f.exitCode));
        }
    }

    /**
     * Prints a result object as {@code exec} does ({@link SessionsCommand#printResult}, which this path does not
     * load) and returns exec's exit code: with {@code json} the object as the server wrote it, on one line.
     */
    static int printResult(Map<?, ?> result, String raw, boolean json, boolean printedLive, PrintWriter out,
                           PrintWriter err) {
        ExecutionStatus status = status(text(result.get("status"), ""));
        if (json) {
            out.println(raw);
            out.flush();
            return status == ExecutionStatus.REJECTED ? 2 : status == ExecutionStatus.ERROR ? 1 : 0;
        }
        if (!printedLive) {
            out.print(text(result.get("stdout"), ""));
            out.flush();
            err.print(text(result.get("stderr"), ""));
        }
        if (status != ExecutionStatus.COMPLETED) {
            String reason = text(result.get("reason"), null);
            err.println("mcp-sandbox: " + status.wireName() + (reason == null ? "" : ": " + reason));
        }
        err.flush();
        return exitCode(status, result.get("exitCode") instanceof Integer exit ? exit : null);
    }

    /**
     * The exit status of {@code exec} without --json for an execution that ended so (see its footer); here, not in
     * {@link ExecCommand}, which this path does not load.
     */
    static int exitCode(ExecutionStatus status, Integer programExit) {
        return switch (status) {
            case COMPLETED -> programExit == null ? 1 : programExit;
            case REJECTED -> 2;
            case ERROR -> 1;
            case TIMEOUT -> 124;
            case OUTPUT_LIMIT -> 125;
            case OOM_KILLED -> 137;
            case TERMINATED -> 143;
            case RUNNING, QUEUED, CANCELLED -> 1;
        };
    }

    private static ExecutionStatus status(String wireName) {
        for (ExecutionStatus s : ExecutionStatus.values()) {
            if (s.wireName().equals(wireName.toLowerCase(Locale.ROOT))) {
                return s;
            }
        }
        return ExecutionStatus.ERROR;
    }

    /** {@code DELETE /v1/executions/ID}, best effort: we are being stopped. */
    private static void stop(String host, int port, Map<String, String> headers, String id) {
        try {
            LoopbackHttp.Answer a = LoopbackHttp.exchange(host, port, "DELETE", PATH + "/"
                    + URLEncoder.encode(id, StandardCharsets.UTF_8), headers, null, CONNECT_TIMEOUT, STOP_TIMEOUT);
            try (InputStream in = a.body()) {
                in.skip(64 << 10);
            }
        } catch (IOException | RuntimeException e) {
            // the server is gone or did not answer in time: nothing more to do
        }
    }

    private static String text(Object value, String otherwise) {
        return value instanceof String s ? s : otherwise;
    }

    private static int failed(PrintWriter err, String message, int exitCode) {
        err.println("mcp-sandbox exec: " + message);
        err.flush();
        return exitCode;
    }

    private static String describe(IOException e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    private static void note(boolean debug, PrintWriter err, String text) {
        if (debug) {
            err.println("mcp-sandbox exec: " + text);
            err.flush();
        }
    }
}
