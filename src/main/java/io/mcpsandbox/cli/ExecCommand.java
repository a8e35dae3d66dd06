package io.mcpsandbox.cli;

import io.mcpsandbox.api.OutputRelay;
import io.mcpsandbox.execution.ExecutionListener;
import io.mcpsandbox.execution.ExecutionService;
import io.mcpsandbox.execution.OutputChunk;
import io.mcpsandbox.execution.SandboxServices;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.model.Units;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

@Command(name = "exec", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Runs one command (exec [options] -- ARGV...) or a snippet "
                + "(exec --lang LANG --code CODE | --file PATH)",
                "in a fresh sandbox that is removed afterwards."},
        footer = {"", "Exit status without --json: the program's own exit code (128+N if killed by signal N);",
                "124 on timeout, 125 when the output limit was hit, 137 when killed for memory, 143 when terminated,",
                "2 when the request was rejected, 1 when the service failed. The program's stdout and stderr go to "
                + "ours as it prints;",
                "a line on stderr says why for anything but a normal exit.",
                "With --json: one line holding the result object; exit 0 for any execution that produced a result,",
                "2 for rejected, 1 for error.",
                "",
                "Without --session, --local or --user: when `mcp-sandbox serve --http` runs on this machine with the "
                + "same state directory, exec hands the request to it (as docker does to dockerd) to use its warm "
                + "pools; the output, exit status and record are the same. Otherwise it runs in this process. To "
                + "tell which: --debug says it on stderr, and the --json result's `pooled` is true only for a "
                + "sandbox taken from a pool.",
                "",
                "With --session ID the command runs in that session of a running `mcp-sandbox serve --http` at --url "
                + "(env MCP_SANDBOX_URL) with --api-key (env MCP_SANDBOX_API_KEY); the session fixes image, runtime, "
                + "level, memory, CPUs and pids. Failures before anything ran: 3 server unreachable, 4 key refused, "
                + "5 no such session, 6 session closed (with its reason), 7 too many (see `sessions --help`)."})
final class ExecCommand implements Callable<Integer> {
    /** How long Ctrl-C or SIGTERM waits for the terminated execution's record to end. */
    private static final java.time.Duration STOP_WAIT = java.time.Duration.ofSeconds(10);
    @ArgGroup(exclusive = true)
    Source source;

    static final class Source {
        @Option(names = "--code", paramLabel = "CODE", description = "Source code to run (needs --lang).")
        String code;

        @Option(names = "--file", paramLabel = "PATH", description = "Read the source code from a file (needs --lang).")
        Path file;
    }

    @Option(names = "--lang", paramLabel = "LANG",
            description = "Language of --code/--file: python, node, sh, bash, java.")
    String language;

    @Option(names = "--runtime", paramLabel = "NAME",
            description = "Runtime to use (runc, runsc, microvm, docker, ...); wins over --security-level.")
    String runtime;

    @Option(names = "--security-level", paramLabel = "LEVEL",
            description = "low, medium (default), high (gVisor), critical (a QEMU microVM). Never downgraded.")
    String securityLevel;

    @Option(names = "--image", paramLabel = "REF", description = "Image to run in, as a reference such as "
            + "alpine:3.19 or python:3.11-slim (a missing tag is latest; default: host).")
    String image;

    @Option(names = "--timeout", paramLabel = "DURATION",
            description = "Wall-clock limit, e.g. 500ms, 5s, 2m (default 30s).")
    String timeout;

    @Option(names = "--memory", paramLabel = "SIZE",
            description = "Memory limit, no swap beyond it, e.g. 256m (default 256m).")
    String memory;

    @Option(names = "--cpus", paramLabel = "N", description = "CPU limit in cores, e.g. 0.5 (default 1).")
    Double cpus;

    @Option(names = "--pids", paramLabel = "N", description = "Most processes and threads at once (default 64).")
    Integer pids;

    @Option(names = "--output-limit", paramLabel = "SIZE", description = "Cap on stdout+stderr (default 10m).")
    String outputLimit;

    @Option(names = "--network", description = "Ask for network access: HTTP(S) through the server's egress policy "
            + "point, to the domains network.allowed-domains lists (refused unless network.enabled).")
    boolean network;

    @Option(names = "--allow-domain", paramLabel = "NAME", description = "With network: a domain the program needs "
            + "(repeatable; implies --network); only names the server's list covers, e.g. pypi.org, *.example.org.")
    List<String> allowDomains = new ArrayList<>();

    @Option(names = "--env", paramLabel = "K=V", description = "Environment variable for the program (repeatable).")
    List<String> env = new ArrayList<>();

    @Option(names = "--workdir", paramLabel = "DIR", description = "Working directory inside the sandbox: "
            + "/workspace (default), /tmp, or a directory below one of them (made if missing).")
    String workDir;

    @Option(names = "--stdin-file", paramLabel = "PATH",
            description = "Feed this file to the program's standard input.")
    Path stdinFile;

    @Option(names = "--json", description = "Print the result object as one JSON line.")
    boolean json;

    @Option(names = "--user", paramLabel = "ID", description = "User id recorded with the execution.")
    String user;

    @Option(names = "--session", paramLabel = "ID", description = "Run in this session on the server of --url "
            + "instead of a fresh local sandbox (see `sessions --help`).")
    String session;

    @Option(names = "--local", description = "Run in this process even when a local server could take the request "
            + "(see below).")
    boolean local;

    @Mixin
    ServerOptions server;

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "ARGV", description = "The command and its arguments (after --).")
    List<String> argv = new ArrayList<>();

    @Override
    public Integer call() throws IOException {
        if (session != null) {
            return callInSession();
        }
        CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
        if (parsed.hasMatchedOption("--url") || parsed.hasMatchedOption("--api-key")) {
            spec.commandLine().getErr().println("mcp-sandbox exec: --url and --api-key go with --session ID (a "
                    + "session on a server); without --session, exec runs here");
            spec.commandLine().getErr().flush();
            return 2;
        }
        ExecutionRequest request;
        try {
            request = request();
        } catch (IllegalArgumentException e) {
            System.err.println("mcp-sandbox exec: " + e.getMessage());
            return 2;
        }
        Preflight.requireRoot("exec");
        if (QuickHandOff.tried) {
            // Main tried the local server already (and said why not with --debug): not twice.
            QuickHandOff.tried = false;
        } else if (!local && user == null) {
            Optional<Integer> handedOff = LocalHandOff.tryRun(Main.config().stateDir(),
                    JsonMapper.shared().writeValueAsBytes(restBody()), json,
                    spec.commandLine().getOut(), spec.commandLine().getErr(), debug());
            if (handedOff.isPresent()) {
                return handedOff.get();
            }
        } else if (debug()) {
            System.err.println("mcp-sandbox exec: runs in this process (" + (local ? "--local" : "--user") + ")");
        }
        ExecutionResult result;
        boolean live = false;
        try (SandboxServices services = new SandboxServices(Main.config())) {
            DeadOwners.reap(services);
            ExecutionService.Submission submitted = services.executions().submit(request, ExecutionListener.NONE);
            Thread stopper = stopOnShutdown(services.executions(), submitted);
            try {
                // Printed as it comes; the result's output then only when nothing could be followed live.
                Optional<CompletableFuture<ExecutionResult>> relay = json ? Optional.empty()
                        : services.executions().active(submitted.executionId())
                                .flatMap(a -> OutputRelay.start(a, ExecCommand::printLive));
                result = outcome(submitted);
                if (relay.isPresent()) {
                    live = true;
                    try {
                        relay.get().join();
                    } catch (java.util.concurrent.CompletionException e) {
                        // our own stdout or stderr is gone: nothing more to print
                    }
                }
            } finally {
                try {
                    Runtime.getRuntime().removeShutdownHook(stopper);
                } catch (IllegalStateException shuttingDown) {
                    // the hook is running or has run
                }
            }
        }
        if (json) {
            System.out.println(JsonMapper.shared().writeValueAsString(result));
            return switch (result.status()) {
                case REJECTED -> 2;
                case ERROR -> 1;
                default -> 0;
            };
        }
        if (!live) {
            System.out.print(result.stdout());
            System.out.flush();
            System.err.print(result.stderr());
        }
        if (result.status() != ExecutionStatus.COMPLETED) {
            System.err.println("mcp-sandbox: " + result.status().wireName()
                    + (result.reason() == null ? "" : ": " + result.reason()));
        }
        return exitCode(result.status(), result.exitCode());
    }

    /**
     * Ctrl-C or SIGTERM while the program runs here: it is terminated and its record ends {@code terminated} before
     * this JVM exits, as a hand-off's does on the server (the owner watchdog would otherwise close the record as
     * "the process that ran it died", a moment later). Bounded: a teardown that hangs is left to the watchdog.
     */
    private static Thread stopOnShutdown(ExecutionService executions, ExecutionService.Submission submitted) {
        Thread stopper = new Thread(() -> {
            if (!submitted.result().isDone() && executions.terminate(submitted.executionId())) {
                try {
                    submitted.result().get(STOP_WAIT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                    // the watchdog closes what is left
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }, "exec-stop");
        Runtime.getRuntime().addShutdownHook(stopper);
        return stopper;
    }

    /** The execution's result; what it threw, as run here on this thread would have thrown it. */
    private static ExecutionResult outcome(ExecutionService.Submission submitted) {
        try {
            return submitted.result().join();
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof RuntimeException cause) {
                throw cause;
            }
            throw e;
        }
    }

    private static void printLive(OutputChunk.Stream stream, long offset, String text) {
        java.io.PrintStream to = stream == OutputChunk.Stream.STDOUT ? System.out : System.err;
        to.print(text);
        to.flush();
    }

    /** The exit status of {@code exec} without --json for an execution that ended so (see the footer). */
    static int exitCode(ExecutionStatus status, Integer programExit) {
        return LocalHandOff.exitCode(status, programExit);
    }

    /** {@code exec --session ID}: the same request, sent to the session on the server. */
    private int callInSession() {
        PrintWriter err = spec.commandLine().getErr();
        try {
            if (user != null) {
                throw new IllegalArgumentException("--user cannot go with --session: on a server the user is the API "
                        + "key's");
            }
            SessionsClient client = server.client();
            return SessionsCommand.printStreamed(client, session, restBody(), json, spec.commandLine().getOut(), err);
        } catch (SessionsClient.Failure f) {
            err.println("mcp-sandbox exec: " + f.getMessage());
            return f.exitCode;
        } catch (IllegalArgumentException | IOException e) {
            err.println("mcp-sandbox exec: " + e.getMessage());
            return 2;
        } finally {
            err.flush();
        }
    }

    /** Whether --debug was given (on exec or before it). */
    private boolean debug() {
        return Main.debug(spec.root().commandLine().getParseResult());
    }

    /** The request as the REST API's body has it (POST /v1/executions, or in a session). */
    private ObjectNode restBody() throws IOException {
        ObjectNode body = SessionsCommand.executionBody(timeout, outputLimit, env, workDir, stdinFile);
        requestSource(body);
        SessionsCommand.putSandbox(body, image, runtime, securityLevel, memory, cpus, pids);
        SessionsCommand.putNetwork(body, network, allowDomains);
        return body;
    }

    /** The command, or the language and code, as a REST body has them (the same checks as a local run). */
    private void requestSource(ObjectNode body) throws IOException {
        if (source != null || language != null) {
            if (language == null || source == null || !argv.isEmpty()) {
                request(); // says which combination is wrong
            }
            body.put("language", language);
            body.put("code", source.code != null ? source.code : Files.readString(source.file));
        } else if (argv.isEmpty()) {
            throw new IllegalArgumentException("nothing to run: give a command after -- or --lang with --code/--file");
        } else {
            ArrayNode command = body.putArray("command");
            argv.forEach(command::add);
        }
    }


    private ExecutionRequest request() throws IOException {
        ExecutionRequest.Builder b = ExecutionRequest.builder();
        if (source != null || language != null) {
            if (language == null) {
                throw new IllegalArgumentException("--lang is required with --code or --file");
            }
            if (source == null) {
                throw new IllegalArgumentException("--lang needs --code CODE or --file PATH");
            }
            if (!argv.isEmpty()) {
                throw new IllegalArgumentException(
                        "give either a command after -- or --lang with --code/--file, not both");
            }
            b.language(language).code(source.code != null ? source.code : Files.readString(source.file));
        } else {
            if (argv.isEmpty()) {
                throw new IllegalArgumentException(
                        "nothing to run: give a command after -- or --lang with --code/--file");
            }
            b.command(argv);
        }
        Map<String, String> vars = new LinkedHashMap<>();
        for (String kv : env) {
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("--env: expected K=V; got '" + kv + "'");
            }
            vars.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        LimitsRequest limits = new LimitsRequest(
                timeout == null ? null : Units.parseDuration("--timeout", timeout).toMillis(),
                memory == null ? null : Units.parseBytes("--memory", memory),
                cpus, pids,
                outputLimit == null ? null : Units.parseBytes("--output-limit", outputLimit));
        return b.runtime(runtime)
                .securityLevel(securityLevel == null ? null : SecurityLevel.parse(securityLevel))
                .image(image).limits(limits).network(network || !allowDomains.isEmpty()).networkAllow(allowDomains)
                .env(vars).workDir(workDir)
                .stdin(stdinFile == null ? null : Files.readString(stdinFile, StandardCharsets.UTF_8))
                .userId(user == null ? System.getProperty("user.name") : user)
                .build();
    }
}
