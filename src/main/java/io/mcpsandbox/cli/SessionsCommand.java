package io.mcpsandbox.cli;

import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.SecurityLevel;
import io.mcpsandbox.model.Units;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/** {@code sessions create|list|show|close|exec|cp}: sandboxes that live across calls, on a running server. */
@Command(name = "sessions", mixinStandardHelpOptions = true,
        description = "Sessions: sandboxes that live across calls (files, /tmp and background processes persist "
                + "until closed, idle or expired), in a running `mcp-sandbox serve --http` (see docs/cli.md).",
        subcommands = {SessionsCommand.Create.class, SessionsCommand.ListSessions.class, SessionsCommand.Show.class,
                SessionsCommand.Close.class, SessionsCommand.Exec.class, SessionsCommand.Copy.class},
        footer = {"", ServerOptions.FOOTER_SERVER, "", ServerOptions.FOOTER_EXIT})
final class SessionsCommand implements Runnable {
    private static final JsonMapper JSON = JsonMapper.shared();

    @Override
    public void run() {
        System.err.println("mcp-sandbox sessions: give a subcommand: create, list, show ID, close ID, exec ID -- ARGV, "
                + "cp SRC DST (see --help)");
    }

    /** What every subcommand shares: the server options, one-line errors and the documented exit codes. */
    abstract static class ServerCommand implements Callable<Integer> {
        @Mixin
        ServerOptions server;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        abstract int call(SessionsClient client) throws SessionsClient.Failure, IOException;

        @Override
        public final Integer call() {
            PrintWriter err = spec.commandLine().getErr();
            try {
                return call(server.client());
            } catch (SessionsClient.Failure f) {
                return fail(f.getMessage(), f.exitCode);
            } catch (IllegalArgumentException e) {
                return fail(e.getMessage(), SessionsClient.REFUSED);
            } catch (FileSystemException e) {
                return fail(e.getFile() + ": " + (e instanceof NoSuchFileException ? "no such file or directory"
                        : e instanceof AccessDeniedException ? "permission denied"
                        : e.getReason() == null ? e.getClass().getSimpleName() : e.getReason()), SessionsClient.FAILED);
            } catch (IOException e) {
                return fail(e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage(),
                        SessionsClient.FAILED);
            } finally {
                spec.commandLine().getOut().flush();
                err.flush();
            }
        }

        int fail(String message, int exitCode) {
            spec.commandLine().getErr().println(spec.qualifiedName() + ": " + message);
            return exitCode;
        }

        PrintWriter out() {
            return spec.commandLine().getOut();
        }

        PrintWriter err() {
            return spec.commandLine().getErr();
        }
    }

    @Command(name = "create", mixinStandardHelpOptions = true, sortOptions = false,
            description = "Opens a session and prints its id on stdout (its runtime and expiry on stderr). What is "
                    + "not given gets the server's defaults (idle timeout 10m, lifetime 1h unless configured).",
            footer = {"", ServerOptions.FOOTER_SERVER, "", ServerOptions.FOOTER_EXIT})
    static final class Create extends ServerCommand {
        @Option(names = "--image", paramLabel = "REF", description = "Image the session runs (default: host).")
        String image;

        @Option(names = "--runtime", paramLabel = "NAME", description = "Runtime (runc, runsc, docker, ...).")
        String runtime;

        @Option(names = {"--level", "--security-level"}, paramLabel = "LEVEL",
                description = "low, medium (default), high, critical.")
        String level;

        @Option(names = "--memory", paramLabel = "SIZE", description = "Memory of the whole session, e.g. 512m.")
        String memory;

        @Option(names = "--cpus", paramLabel = "N", description = "CPU limit in cores, e.g. 0.5.")
        Double cpus;

        @Option(names = "--pids", paramLabel = "N", description = "Most processes and threads at once.")
        Integer pids;

        @Option(names = "--idle-timeout", paramLabel = "DURATION",
                description = "Closed after this long without an execution, e.g. 10m.")
        String idleTimeout;

        @Option(names = "--lifetime", paramLabel = "DURATION", description = "Closed after this long in any case, "
                + "e.g. 1h (at most the server's session.max-lifetime).")
        String lifetime;

        @Option(names = "--rootfs", paramLabel = "MODE",
                description = "read-only (default) or writable (an overlay in the session's capped storage).")
        String rootfs;

        @Option(names = "--env", paramLabel = "K=V", description = "Environment variable of every execution "
                + "(repeatable).")
        List<String> env = new ArrayList<>();

        @Option(names = "--network", description = "Network for the session's programs: HTTP(S) through the "
                + "server's egress policy point (refused unless network.enabled).")
        boolean network;

        @Option(names = "--allow-domain", paramLabel = "NAME", description = "With network: a domain the session "
                + "needs (repeatable; implies --network); only names the server's list covers.")
        List<String> allowDomains = new ArrayList<>();

        @Option(names = "--json", description = "Print the session as one JSON line.")
        boolean json;

        @Override
        int call(SessionsClient client) throws SessionsClient.Failure {
            ObjectNode body = JSON.createObjectNode();
            putSandbox(body, image, runtime, level, memory, cpus, pids);
            putNetwork(body, network, allowDomains);
            if (!env.isEmpty()) {
                body.set("env", JSON.valueToTree(env(env)));
            }
            if (rootfs != null) {
                body.put("rootfs", rootfs);
            }
            if (idleTimeout != null) {
                body.put("idleTimeoutSeconds", Units.parseDuration("--idle-timeout", idleTimeout).toSeconds());
            }
            if (lifetime != null) {
                body.put("lifetimeSeconds", Units.parseDuration("--lifetime", lifetime).toSeconds());
            }
            JsonNode session = client.create(body);
            if (json) {
                out().println(JSON.writeValueAsString(session));
                return 0;
            }
            out().println(session.path("sessionId").asString());
            err().println("session " + session.path("sessionId").asString() + ": runtime "
                    + session.path("runtime").asString("?") + ", image " + session.path("image").asString("?")
                    + "; expires at " + session.path("expiresAt").asString("?")
                    + (session.path("idleExpiresAt").isString()
                            ? ", or when idle at " + session.path("idleExpiresAt").asString() : ""));
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Lists your open sessions, newest first.",
            footer = {"", ServerOptions.FOOTER_SERVER, "", ServerOptions.FOOTER_EXIT})
    static final class ListSessions extends ServerCommand {
        @Option(names = "--json", description = "Print a JSON array of sessions on one line.")
        boolean json;

        @Override
        int call(SessionsClient client) throws SessionsClient.Failure {
            JsonNode sessions = client.list();
            if (json) {
                out().println(JSON.writeValueAsString(sessions));
                return 0;
            }
            String format = "%-36s %-8s %-20s %-20s %-20s %-5s %s%n";
            out().printf(format, "SESSION", "RUNTIME", "CREATED", "EXPIRES", "IDLE-EXPIRES", "EXECS", "IMAGE");
            for (JsonNode s : sessions) {
                out().printf(format, s.path("sessionId").asString(), s.path("runtime").asString("-"),
                        instant(s.path("createdAt")), instant(s.path("expiresAt")), instant(s.path("idleExpiresAt")),
                        s.path("executions").asString("-"), s.path("image").asString("-"));
            }
            return 0;
        }

        private static String instant(JsonNode at) {
            String s = at.isString() ? at.asString() : "-";
            return s.length() > 19 ? s.substring(0, 19) : s;
        }
    }

    @Command(name = "show", mixinStandardHelpOptions = true,
            description = "Shows one session; a closed one answers 410 with why (exit 6).",
            footer = {"", ServerOptions.FOOTER_SERVER, "", ServerOptions.FOOTER_EXIT})
    static final class Show extends ServerCommand {
        @Parameters(paramLabel = "ID", description = "The session id.")
        String id;

        @Option(names = "--json", description = "Print the session as one JSON line.")
        boolean json;

        @Override
        int call(SessionsClient client) throws SessionsClient.Failure {
            JsonNode session = client.show(id);
            out().println(json ? JSON.writeValueAsString(session)
                    : JSON.writerWithDefaultPrettyPrinter().writeValueAsString(session));
            return 0;
        }
    }

    @Command(name = "close", mixinStandardHelpOptions = true,
            description = "Closes a session: its sandbox, processes and files are removed.",
            footer = {"", ServerOptions.FOOTER_SERVER, "", ServerOptions.FOOTER_EXIT})
    static final class Close extends ServerCommand {
        @Parameters(paramLabel = "ID", description = "The session id.")
        String id;

        @Option(names = "--json", description = "Print the closed session as one JSON line.")
        boolean json;

        @Override
        int call(SessionsClient client) throws SessionsClient.Failure {
            JsonNode session = client.close(id);
            out().println(json ? JSON.writeValueAsString(session) : "closed " + id);
            return 0;
        }
    }

    @Command(name = "exec", mixinStandardHelpOptions = true, sortOptions = false,
            description = "Runs a command in a session and passes its output and exit code through, as `exec` "
                + "does. It is a new process; the files, /tmp and background processes of earlier calls are there.",
            footer = {"", ServerOptions.FOOTER_SERVER, "",
                    "Exit status: as `exec`: the program's own exit code; 124 timeout, 125 output limit, 137 memory, "
                    + "143 terminated, 2 rejected, 1 error.",
                    "Before anything ran: 2 bad arguments or refused, 3 server unreachable, 4 key refused, 5 no such "
                    + "session, 6 closed, 7 too many; a line on stderr says which."})
    static final class Exec extends ServerCommand {
        @Parameters(index = "0", paramLabel = "ID", description = "The session id.")
        String id;

        @Parameters(index = "1..*", paramLabel = "ARGV", description = "The command and its arguments (after --).")
        List<String> argv = new ArrayList<>();

        @Option(names = "--timeout", paramLabel = "DURATION", description = "Wall-clock limit of this execution, "
                + "e.g. 5s (default: the server's).")
        String timeout;

        @Option(names = "--output-limit", paramLabel = "SIZE", description = "Cap on stdout+stderr, e.g. 1m.")
        String outputLimit;

        @Option(names = "--env", paramLabel = "K=V", description = "Environment variable on top of the session's "
                + "(repeatable).")
        List<String> env = new ArrayList<>();

        @Option(names = "--workdir", paramLabel = "DIR", description = "Working directory (default /workspace).")
        String workDir;

        @Option(names = {"--stdin", "--stdin-file"}, paramLabel = "FILE",
                description = "Feed this file (UTF-8 text) to the program's standard input.")
        Path stdinFile;

        @Option(names = "--json", description = "Print the result object as one JSON line.")
        boolean json;

        @Override
        int call(SessionsClient client) throws SessionsClient.Failure, IOException {
            if (argv.isEmpty()) {
                throw new IllegalArgumentException("nothing to run: give a command after --, e.g. "
                        + "sessions exec ID -- python3 -c 'print(1)'");
            }
            ObjectNode body = executionBody(timeout, outputLimit, env, workDir, stdinFile);
            body.set("command", JSON.valueToTree(argv));
            return printStreamed(client, id, body, json, out(), err());
        }
    }

    @Command(name = "cp", mixinStandardHelpOptions = true,
            description = "Copies one file into or out of a session. One of SRC and DST is ID:/path, absolute "
                    + "(under /workspace to write; /workspace or /tmp to read), the other a local path (one with a "
                    + "colon: ./a:b). Bytes are copied as they are, streamed. A DST ending in / (or a local "
                    + "directory) gets SRC's name. A local file is replaced by a new one (readable by you only) "
                    + "renamed into place; a local DST that is a symbolic link is refused, never written through.",
            footer = {"", ServerOptions.FOOTER_SERVER, "", ServerOptions.FOOTER_EXIT})
    static final class Copy extends ServerCommand {
        private static final Pattern REMOTE = Pattern.compile("([A-Za-z0-9][A-Za-z0-9._-]*):(.*)", Pattern.DOTALL);

        @Parameters(index = "0", paramLabel = "SRC", description = "A local file, or ID:/path in a session.")
        String source;

        @Parameters(index = "1", paramLabel = "DST", description = "ID:/path in a session, or a local path.")
        String target;

        @Override
        int call(SessionsClient client) throws SessionsClient.Failure, IOException {
            Matcher from = REMOTE.matcher(source);
            Matcher to = REMOTE.matcher(target);
            if (from.matches() == to.matches()) {
                throw new IllegalArgumentException("one of SRC and DST must be ID:/path in a session and the other a "
                        + "local path; got '" + source + "' and '" + target + "'");
            }
            return to.matches() ? upload(client, Path.of(source), to.group(1), to.group(2))
                    : download(client, from.group(1), from.group(2), Path.of(target));
        }

        private int upload(SessionsClient client, Path local, String id, String sandboxPath)
                throws SessionsClient.Failure, IOException {
            if (!Files.isRegularFile(local)) {
                throw new IllegalArgumentException(local + ": " + (Files.isDirectory(local)
                        ? "is a directory; copy its files one by one" : "no such regular file"));
            }
            String path = sandboxPath.endsWith("/") ? sandboxPath + local.getFileName() : sandboxPath;
            client.upload(id, path, local);
            return 0;
        }

        private int download(SessionsClient client, String id, String sandboxPath, Path local)
                throws SessionsClient.Failure, IOException {
            SessionsClient.filePath(id, sandboxPath); // refuses a relative path before anything is made
            Path target = refuseLink(local);
            if (Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
                String name = sandboxPath.substring(sandboxPath.lastIndexOf('/') + 1);
                if (name.isEmpty() || name.equals(".") || name.equals("..")) {
                    throw new IllegalArgumentException("name the local file: " + sandboxPath + " has no file name");
                }
                target = refuseLink(target.resolve(name));
            }
            if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)
                    && !Files.isRegularFile(target, LinkOption.NOFOLLOW_LINKS)) {
                throw new IllegalArgumentException(target + ": exists and is not a regular file; refusing to replace "
                        + "it");
            }
            Path parent = target.toAbsolutePath().getParent();
            // A new file (O_EXCL, rw for the owner only) renamed over the target: a failed copy leaves nothing
            // half-written, and a link put in the target's place is replaced, never written through.
            Path part = Files.createTempFile(parent, "." + target.getFileName() + ".", ".part");
            try {
                try (OutputStream sink = Files.newOutputStream(part, LinkOption.NOFOLLOW_LINKS)) {
                    client.download(id, sandboxPath, sink);
                }
                Files.move(part, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(part);
            }
            return 0;
        }

        private static Path refuseLink(Path local) {
            if (Files.isSymbolicLink(local)) {
                throw new IllegalArgumentException(local + " is a symbolic link; refusing to write through it "
                        + "(remove it or name another path)");
            }
            return local;
        }
    }

    /** The fields of an execution request that a call in a session may set (the rest are the session's). */
    static ObjectNode executionBody(String timeout, String outputLimit, List<String> env, String workDir,
                                    Path stdinFile) throws IOException {
        ObjectNode body = JSON.createObjectNode();
        ObjectNode limits = JSON.createObjectNode();
        if (timeout != null) {
            limits.put("timeoutMs", Units.parseDuration("--timeout", timeout).toMillis());
        }
        if (outputLimit != null) {
            limits.put("outputBytes", Units.parseBytes("--output-limit", outputLimit));
        }
        if (!limits.isEmpty()) {
            body.set("limits", limits);
        }
        if (env != null && !env.isEmpty()) {
            body.set("env", JSON.valueToTree(env(env)));
        }
        putIfSet(body, "workDir", workDir);
        if (stdinFile != null) {
            try {
                body.put("stdin", Files.readString(stdinFile, StandardCharsets.UTF_8));
            } catch (CharacterCodingException e) {
                throw new IllegalArgumentException("--stdin: " + stdinFile + " is not UTF-8 text");
            }
        }
        return body;
    }

    /**
     * Prints a result object as {@code exec} does and returns {@code exec}'s exit code for it: with
     * {@code json} one line and 0 for any execution that produced a result (2 rejected, 1 error); otherwise the
     * program's stdout and stderr, a line saying why for anything but a normal exit, and its exit code.
     */
    static int printResult(JsonNode result, boolean json, PrintWriter out, PrintWriter err) {
        return printResult(result, json, false, out, err);
    }

    /**
     * Runs the body in the session and prints as {@code exec} does: without --json the program's output as it
     * comes (a stream), then the footer; with --json the one result line.
     */
    static int printStreamed(SessionsClient client, String id, ObjectNode body, boolean json, PrintWriter out,
                             PrintWriter err) throws SessionsClient.Failure {
        if (json) {
            return printResult(client.execute(id, body).result(), true, out, err);
        }
        SessionsClient.StreamedAnswer answer = client.executeStreaming(id, body, (toStderr, text) -> {
            PrintWriter w = toStderr ? err : out;
            w.print(text);
            w.flush();
        });
        return printResult(answer.result(), false, answer.live(), out, err);
    }

    /** @param printedLive its output was printed while it ran: only the footer is left */
    static int printResult(JsonNode result, boolean json, boolean printedLive, PrintWriter out, PrintWriter err) {
        ExecutionStatus status = status(result.path("status").asString(""));
        if (json) {
            out.println(JSON.writeValueAsString(result));
            out.flush();
            return status == ExecutionStatus.REJECTED ? 2 : status == ExecutionStatus.ERROR ? 1 : 0;
        }
        if (!printedLive) {
            out.print(result.path("stdout").asString(""));
            out.flush();
            err.print(result.path("stderr").asString(""));
        }
        if (status != ExecutionStatus.COMPLETED) {
            String reason = result.path("reason").asString(null);
            err.println("mcp-sandbox: " + status.wireName() + (reason == null ? "" : ": " + reason));
        }
        err.flush();
        JsonNode exit = result.path("exitCode");
        return ExecCommand.exitCode(status, exit.isInt() ? exit.asInt() : null);
    }

    private static ExecutionStatus status(String wireName) {
        for (ExecutionStatus s : ExecutionStatus.values()) {
            if (s.wireName().equals(wireName.toLowerCase(Locale.ROOT))) {
                return s;
            }
        }
        return ExecutionStatus.ERROR;
    }

    static Map<String, String> env(List<String> pairs) {
        Map<String, String> vars = new LinkedHashMap<>();
        for (String kv : pairs) {
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("--env: expected K=V; got '" + kv + "'");
            }
            vars.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        return vars;
    }

    /**
     * The sandbox a request body asks for (the options {@code exec} and {@code sessions create} share): image,
     * runtime, level, and memory, CPUs and pids into its {@code limits} (kept with what is there already; none
     * set and none there: no {@code limits}).
     */
    /** {@code network}: true, or {@code {"allow": [...]}} when domains are named (which implies network). */
    static void putNetwork(ObjectNode body, boolean network, List<String> allowDomains) {
        if (!allowDomains.isEmpty()) {
            body.putObject("network").set("allow", JSON.valueToTree(allowDomains));
        } else if (network) {
            body.put("network", true);
        }
    }

    static void putSandbox(ObjectNode body, String image, String runtime, String level, String memory, Double cpus,
                           Integer pids) {
        putIfSet(body, "image", image);
        putIfSet(body, "runtime", runtime);
        if (level != null) {
            body.put("securityLevel", SecurityLevel.parse(level).wireName());
        }
        ObjectNode limits = body.has("limits") ? (ObjectNode) body.get("limits") : body.putObject("limits");
        if (memory != null) {
            limits.put("memoryBytes", Units.parseBytes("--memory", memory));
        }
        if (cpus != null) {
            limits.put("cpus", cpus);
        }
        if (pids != null) {
            limits.put("pids", pids);
        }
        if (limits.isEmpty()) {
            body.remove("limits");
        }
    }

    private static void putIfSet(ObjectNode body, String field, String value) {
        if (value != null) {
            body.put(field, value);
        }
    }
}
