package io.mcpsandbox.cli;

import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.queue.ExecutionQueue;
import io.mcpsandbox.queue.QueueStore;
import io.mcpsandbox.queue.QueueStores;
import io.mcpsandbox.queue.QueuedView;
import io.mcpsandbox.record.ExecutionStore;
import io.mcpsandbox.record.ExecutionStores;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import tools.jackson.databind.json.JsonMapper;

/** {@code executions list|show|kill}: the records of past executions, and terminating a running one. */
@Command(name = "executions", mixinStandardHelpOptions = true,
        description = "Execution records (from the configured store: Redis or the embedded SQLite file) and "
                + "terminating a running execution on a server.",
        subcommands = {ExecutionsCommand.ListRecords.class, ExecutionsCommand.Show.class, ExecutionsCommand.Kill.class})
final class ExecutionsCommand implements Runnable {
    @Override
    public void run() {
        System.err.println("mcp-sandbox executions: give a subcommand: list, show ID, kill ID (see --help)");
    }

    private static final JsonMapper JSON = JsonMapper.builder().build();

    private static ExecutionStore store() {
        SandboxConfig config = Main.config();
        return ExecutionStores.create(config, config.settings());
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Lists records, newest first.")
    static final class ListRecords implements Callable<Integer> {
        @Option(names = "--user", paramLabel = "ID", description = "Only this user's executions.")
        String user;

        @Option(names = "--limit", paramLabel = "N", defaultValue = "20",
                description = "How many at most (1 to 1000; default 20).")
        int limit;

        @Option(names = "--json", description = "One JSON array of records (without their output).")
        boolean json;

        @Option(names = "--queued", description = "The executions waiting in the queue instead, in the order a "
                + "server starting now would run them (users in turn, priority within a user).")
        boolean queued;

        @Override
        public Integer call() {
            if (limit < 1 || limit > 1000) {
                System.err.println("mcp-sandbox executions list: --limit must be from 1 to 1000; got " + limit);
                return 2;
            }
            if (queued) {
                return listQueued();
            }
            try (ExecutionStore store = store()) {
                List<ExecutionRecord> records = store.listSummaries(user, limit);
                if (json) {
                    System.out.println(JSON.writeValueAsString(records));
                    return 0;
                }
                System.out.printf("%-36s %-20s %-12s %-8s %-6s %-9s %s%n", "EXECUTION", "STARTED", "STATUS", "RUNTIME",
                        "EXIT", "DURATION", "USER / COMMAND");
                for (ExecutionRecord r : records) {
                    System.out.printf("%-36s %-20s %-12s %-8s %-6s %-9s %s / %s%n", r.executionId(),
                            r.startedAt().toString().substring(0, 19), r.status().wireName(),
                            r.runtime() == null ? "-" : r.runtime(), r.exitCode() == null ? "-" : r.exitCode(),
                            r.durationMs() + "ms", r.userId(), abbreviate(String.join(" ", r.command()), 60));
                }
                return 0;
            }
        }

        private int listQueued() {
            SandboxConfig config = Main.config();
            try (QueueStore store = QueueStores.open(config.dataDir(), config.settings())) {
                List<QueuedView> waiting = ExecutionQueue.waitingIn(store, user, limit);
                if (json) {
                    System.out.println(JSON.writeValueAsString(waiting));
                    return 0;
                }
                System.out.printf("%-8s %-36s %-20s %-8s %s%n", "POSITION", "EXECUTION", "QUEUED", "PRIORITY", "USER");
                for (QueuedView v : waiting) {
                    System.out.printf("%-8d %-36s %-20s %-8d %s%n", v.position(), v.executionId(),
                            v.queuedAt().toString().substring(0, 19), v.priority(), v.userId());
                }
                return 0;
            }
        }
    }

    @Command(name = "show", mixinStandardHelpOptions = true,
            description = "Shows one execution: its result object (or its record while it runs).")
    static final class Show implements Callable<Integer> {
        @Parameters(paramLabel = "ID", description = "The execution id.")
        String id;

        @Option(names = "--json", description = "Print the result object as one JSON line.")
        boolean json;

        @Override
        public Integer call() {
            try (ExecutionStore store = store()) {
                Optional<ExecutionRecord> found = store.find(id);
                if (found.isEmpty()) {
                    System.err.println("mcp-sandbox executions show: no execution " + id + " in the store");
                    return 1;
                }
                ExecutionRecord r = found.get();
                Object shown = r.result() != null ? r.result() : r;
                if (json) {
                    System.out.println(JSON.writeValueAsString(shown));
                } else {
                    System.out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(shown));
                }
                return 0;
            }
        }
    }

    @Command(name = "kill", mixinStandardHelpOptions = true,
            description = "Terminates a running execution on a server (REST DELETE /v1/executions/ID).")
    static final class Kill implements Callable<Integer> {
        @Parameters(paramLabel = "ID", description = "The execution id.")
        String id;

        @Option(names = "--server", paramLabel = "URL",
                defaultValue = "${env:MCP_SANDBOX_SERVER:-http://127.0.0.1:8080}",
                description = "The server's base URL (env MCP_SANDBOX_SERVER; default ${DEFAULT-VALUE}).")
        String server;

        @Option(names = "--api-key", paramLabel = "KEY", defaultValue = "${env:MCP_SANDBOX_API_KEY}",
                description = "An API key of the user who started it (env MCP_SANDBOX_API_KEY).")
        String apiKey;

        @Override
        public Integer call() throws Exception {
            if (apiKey == null || apiKey.isBlank()) {
                System.err.println(
                        "mcp-sandbox executions kill: an API key is needed (--api-key or MCP_SANDBOX_API_KEY)");
                return 2;
            }
            URI uri = URI.create(server.replaceAll("/+$", "") + "/v1/executions/"
                    + URLEncoder.encode(id, StandardCharsets.UTF_8));
            HttpResponse<String> response = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()
                    .send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30))
                            .header("Authorization", "Bearer " + apiKey).DELETE().build(),
                            HttpResponse.BodyHandlers.ofString());
            switch (response.statusCode()) {
                case 202 -> {
                    System.out.println("terminating " + id);
                    return 0;
                }
                case 409 -> System.err.println("mcp-sandbox executions kill: " + id + " has already finished");
                case 404 -> System.err.println(
                        "mcp-sandbox executions kill: no execution " + id + " of yours is running");
                case 401 -> System.err.println("mcp-sandbox executions kill: the server refused the API key");
                default -> System.err.println("mcp-sandbox executions kill: the server answered "
                        + response.statusCode() + ": " + abbreviate(response.body(), 300));
            }
            return 1;
        }
    }

    private static String abbreviate(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max - 1) + "…";
    }
}
