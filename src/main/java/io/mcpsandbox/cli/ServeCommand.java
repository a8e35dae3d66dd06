package io.mcpsandbox.cli;

import io.mcpsandbox.api.SandboxApi;
import io.mcpsandbox.api.http.ApiKeys;
import io.mcpsandbox.api.http.HttpApiServer;
import io.mcpsandbox.api.mcp.HttpMcpServer;
import io.mcpsandbox.api.mcp.StdioMcpServer;
import io.mcpsandbox.cluster.ClusterJoinException;
import io.mcpsandbox.cluster.ClusterNode;
import io.mcpsandbox.cluster.ClusterSettings;
import io.mcpsandbox.cluster.NodeIds;
import io.mcpsandbox.cluster.NodeReport;
import io.mcpsandbox.config.ConfigLoader;
import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.config.ServerConfig;
import io.mcpsandbox.execution.SandboxServices;
import io.mcpsandbox.model.ProductVersion;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.runtime.RuntimeRegistry;
import io.mcpsandbox.runtime.oci.InotifyBudget;
import java.io.FileOutputStream;
import java.io.FileDescriptor;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Serves MCP over stdio, and/or MCP Streamable HTTP at /mcp plus the REST API at /v1,",
                "/metrics and /healthz on one HTTP port."},
        footer = {"", "HTTP needs API keys: MCP_SANDBOX_API_KEYS=\"token:userId,token2:userId2\" (or api.keys in the "
                + "config file); every request to /mcp, /v1 and /metrics must send Authorization: Bearer <token>, and "
                + "runs as that token's user. Without keys, --http refuses to start unless --insecure-no-auth is "
                + "given.",
                "With --http, `exec` on this machine hands its requests to this server (as docker does to dockerd) "
                + "through <state dir>/local-endpoint: the URL and a per-start token for the local user, readable by "
                + "root only, removed on a clean stop (docs/cli.md).",
                "With --stdio, stdout carries JSON-RPC only (logs go to stderr), executions run as the local user, and "
                + "the server exits when stdin closes. See docs/mcp-clients.md and docs/api.md."})
final class ServeCommand implements Callable<Integer> {
    @Option(names = "--stdio", description = "Serve MCP over stdin/stdout (for a local MCP client that starts us).")
    boolean stdio;

    @Option(names = "--http", paramLabel = "HOST:PORT",
            description = "Serve HTTP on HOST:PORT, e.g. 127.0.0.1:8080 ([::1]:8080 for IPv6; port 0 picks one): "
                    + "MCP at /mcp, REST at /v1, the web console at /ui/.")
    String http;

    @Option(names = "--insecure-no-auth", description = "Serve HTTP without API keys: anyone who reaches the port "
            + "runs code as user 'anonymous'. Only for a trusted, private network; refused when keys are configured.")
    boolean insecureNoAuth;

    @Option(names = "--cluster", description = "Join the cluster in the Redis of redis.url (MCP_SANDBOX_REDIS_URL) "
            + "as one of its nodes; needs --http and cluster.secret (MCP_SANDBOX_CLUSTER_SECRET). See docs/cluster.md.")
    boolean cluster;

    @Override
    public Integer call() throws Exception {
        if (!stdio && http == null && !cluster) {
            System.err.println("mcp-sandbox serve: give --stdio, --http HOST:PORT, or both");
            return 2;
        }
        SandboxConfig sandbox;
        ServerConfig server;
        ClusterSettings clusterSettings = null;
        String host = null;
        int port = 0;
        try {
            sandbox = Main.config();
            server = ServerConfig.load(new ConfigLoader(System.getenv()).settings(), sandbox);
            if (http != null) {
                int colon = http.lastIndexOf(':');
                if (colon < 0) {
                    throw new IllegalArgumentException("--http: expected HOST:PORT; got '" + http + "'");
                }
                host = http.substring(0, colon).replace("[", "").replace("]", "");
                port = Integer.parseInt(http.substring(colon + 1));
                if (host.isEmpty() || port < 0 || port > 65535) {
                    throw new IllegalArgumentException("--http: expected HOST:PORT; got '" + http + "'");
                }
            }
            if (cluster) {
                clusterSettings = ClusterSettings.forServe(sandbox.settings(), http != null);
            }
        } catch (NumberFormatException e) {
            System.err.println("mcp-sandbox serve: --http: the port must be a number; got '" + http + "'");
            return 2;
        } catch (IllegalArgumentException | IllegalStateException e) {
            System.err.println("mcp-sandbox serve: " + e.getMessage());
            return 2;
        }
        ApiKeys keys = null;
        String localToken = null;
        if (http != null) {
            if (server.apiKeys().isEmpty() && !insecureNoAuth) {
                System.err.println("mcp-sandbox serve: refusing to serve HTTP without API keys. Set "
                        + "MCP_SANDBOX_API_KEYS=\"<token>:<userId>\" (a token of 16+ random characters, e.g. from "
                        + "'openssl rand -hex 32'), or pass --insecure-no-auth on a trusted network.");
                return 2;
            }
            if (!server.apiKeys().isEmpty() && insecureNoAuth) {
                System.err.println("mcp-sandbox serve: --insecure-no-auth given but API keys are configured; "
                        + "remove one of the two");
                return 2;
            }
            keys = insecureNoAuth ? ApiKeys.insecure("anonymous") : ApiKeys.of(server.apiKeys());
            // exec on this machine may hand its request to us with this token, as the user it records locally.
            localToken = LocalEndpoint.newToken();
            keys = keys.withLocalKey(localToken, System.getProperty("user.name"));
        }
        Preflight.requireRoot("serve");
        if (http != null && port != 0) {
            Preflight.requirePortFree(host, port);
        }
        // Before anything starts: a node that may not join this cluster (another protocol or secret) never serves.
        ClusterNode node = null;
        if (clusterSettings != null) {
            try {
                node = ClusterNode.open(clusterSettings, NodeIds.resolve(clusterSettings, sandbox.stateDir()),
                        ProductVersion.VERSION, java.time.Clock.systemUTC());
            } catch (ClusterJoinException e) {
                System.err.println("mcp-sandbox serve: refusing to join the cluster: " + e.getMessage());
                return 2;
            } catch (IOException e) {
                System.err.println("mcp-sandbox serve: --cluster: cannot keep this node's id in " + sandbox.stateDir()
                        + ": " + e.getMessage());
                return 2;
            }
        }

        // In stdio mode stdout is the protocol channel: whatever else prints goes to stderr instead.
        OutputStream protocolOut = new FileOutputStream(FileDescriptor.out);
        if (stdio) {
            System.setOut(new PrintStream(new FileOutputStream(FileDescriptor.err), true));
        }
        CountDownLatch stopRequested = new CountDownLatch(1);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stopRequested.countDown();
            try {
                stopped.await(60, TimeUnit.SECONDS); // let running sandboxes be killed and removed
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "serve-shutdown"));

        try (ClusterNode member = node;
                SandboxServices services = new SandboxServices(sandbox);
                SandboxApi api = new SandboxApi(services, server)) {
            // Before anything else: what a previous server left behind is removed and its records closed.
            List<String> recovered = services.recoverFromCrash();
            if (!recovered.isEmpty()) {
                System.err.println("mcp-sandbox: closed " + recovered.size() + " execution(s) of a previous server "
                        + "that died while they ran: " + String.join(", ", recovered));
            }
            // A VM's test boot would hold the start for seconds: its probe decides ('runtimes' boots one).
            List<RuntimeInfo> infos = services.verifyRuntimes(false);
            for (RuntimeInfo info : infos) {
                System.err.println("mcp-sandbox: runtime " + info.name()
                        + (info.version() == null ? "" : " (" + info.version() + ")") + ": "
                        + (info.usable() ? "usable" : "not usable (" + info.reason() + ")")
                        + services.registry().find(info.name()).flatMap(services::exclusion)
                                .map(why -> ", EXCLUDED by settings: " + why).orElse(""));
                if (info.knownVulnerable() && !RuntimeRegistry.refusedForVersion(info)) {
                    System.err.println("mcp-sandbox: WARNING: runtime " + info.name() + " has a known-vulnerable "
                            + "version (" + info.blockingIds() + "); 'mcp-sandbox runtimes' lists each advisory");
                }
            }
            boolean runcServes = infos.stream().anyMatch(i -> i.usable() && i.name().equals("runc")
                    && services.registry().find(i.name()).flatMap(services::exclusion).isEmpty());
            if (runcServes) {
                // The sandboxes of runc's warm pools hold their inotify instances while they wait, too.
                int runcPooled = services.pool().status().stream().filter(p -> p.key().runtime().equals("runc"))
                        .mapToInt(p -> p.size()).sum();
                InotifyBudget.check(Path.of("/proc/sys/fs/inotify"), server.admission().maxConcurrent() + runcPooled)
                        .ifPresent(why -> System.err.println("mcp-sandbox: WARNING: " + why));
            }
            // A runtime the settings exclude serves no request: its version cannot stop the server.
            List<String> refused = infos.stream().filter(RuntimeRegistry::refusedForVersion)
                    .filter(i -> services.registry().find(i.name()).flatMap(services::exclusion).isEmpty())
                    .map(i -> i.name() + " (" + i.blockingIds() + ")").toList();
            if (!refused.isEmpty()) {
                System.err.println("mcp-sandbox serve: refusing to start: " + RuntimeRegistry.REFUSE_VULNERABLE_KEY
                        + " is on and these runtimes have known-vulnerable versions: " + String.join("; ", refused)
                        + ". Upgrade them ('mcp-sandbox runtimes' lists each advisory and its fix), exclude them with "
                        + "runtimes.allowed, or set " + RuntimeRegistry.REFUSE_VULNERABLE_KEY + "=false.");
                return 2;
            }
            // Said at every start: without trivy nothing is scanned, and refuse-critical then refuses catalog images.
            System.err.println("mcp-sandbox: image scanning: " + services.imageScans().status());
            services.scanImagesInBackground();
            // Sandboxes started ahead, on the runtimes verified above (docs/pools.md), by a shared HTTP server: a
            // stdio server is one client's, and ends when that client goes (often with a SIGKILL soon after).
            if (http != null) {
                services.startPools();
            }
            System.err.println("mcp-sandbox: warm pools: " + (http == null ? "none (a stdio-only server keeps none)"
                    : services.pool().keys().isEmpty() ? "none (pool.enabled or pool.sandboxes)"
                    : services.pool().status().stream().map(p -> p.key() + "=" + p.size()
                    + (p.problem() == null ? "" : " (empty: " + p.problem() + ")"))
                    .collect(java.util.stream.Collectors.joining(", "))));
            // Async executions wait in the durable queue; what waited before a stop resumes now (docs/queue.md).
            System.err.println("mcp-sandbox: queue: " + api.startQueue());
            HttpApiServer httpServer = null;
            StdioMcpServer stdioServer = null;
            LocalEndpoint endpoint = null;
            try {
                if (member != null) {
                    api.serveAsClusterNode(member);
                }
                if (http != null) {
                    httpServer = HttpApiServer.start(api, server, keys, host, port, HttpMcpServer::create);
                    String base = "http://" + http.substring(0, http.lastIndexOf(':')) + ":" + httpServer.port();
                    System.err.println("mcp-sandbox: serving MCP at " + base + "/mcp and REST at /v1"
                            + (keys.insecure() ? " WITHOUT AUTHENTICATION (--insecure-no-auth)" : ""));
                    System.err.println("mcp-sandbox: console at " + base + "/ui/ (sign in with an API key)");
                    endpoint = offerToLocalExec(sandbox.stateDir(), host, httpServer.port(), localToken);
                }
                if (member != null) {
                    joinCluster(member, clusterSettings, host, httpServer.port(), services, server, infos);
                }
                if (stdio) {
                    stdioServer = StdioMcpServer.start(api, System.in, protocolOut, System.getProperty("user.name"));
                    StdioMcpServer s = stdioServer;
                    Thread.ofPlatform().daemon().name("stdio-eof").start(() -> {
                        try {
                            s.awaitEndOfInput();
                        } catch (InterruptedException ignored) {
                            Thread.currentThread().interrupt();
                        }
                        stopRequested.countDown();
                    });
                }
                stopRequested.await();
            } finally {
                if (member != null) {
                    // Out of the listing at once, before this node stops answering; its Redis connections close
                    // last (the try's resources), after its sessions and executions have written their ends.
                    member.leave();
                }
                if (endpoint != null) {
                    endpoint.removeFrom(sandbox.stateDir());
                }
                if (stdioServer != null) {
                    stdioServer.close();
                }
                if (httpServer != null) {
                    httpServer.close();
                }
            }
        } finally {
            stopped.countDown();
        }
        return 0;
    }

    /** Registers the node at its advertised URL with what it reports each heartbeat (docs/cluster.md). */
    private static void joinCluster(ClusterNode node, ClusterSettings settings, String host, int port,
                                    SandboxServices services, ServerConfig server, List<RuntimeInfo> infos) {
        String advertised = settings.advertiseUrl() != null ? settings.advertiseUrl()
                : "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
        // Usable and not excluded, as verified at start: what this node can run.
        List<String> runtimes = infos.stream().filter(RuntimeInfo::usable)
                .filter(i -> services.registry().find(i.name()).flatMap(services::exclusion).isEmpty())
                .map(RuntimeInfo::name).toList();
        int maxInFlight = server.admission().maxConcurrent();
        node.start(advertised, () -> {
            List<String> images;
            try {
                images = services.images().stream().map(io.mcpsandbox.image.CatalogImage::name).toList();
            } catch (IOException e) {
                images = List.of();
            }
            int ready = services.pool().status().stream().mapToInt(p -> p.ready()).sum();
            return new NodeReport(runtimes, images, maxInFlight, services.executions().active().size(), ready);
        });
        System.err.println("mcp-sandbox: cluster: node " + node.id() + " at " + advertised
                + (node.redisReachable() ? (node.draining() ? " (DRAINING: 'mcp-sandbox cluster undrain "
                + node.id() + "' to take work)" : " (active)") : " (Redis unreachable: serving locally)"));
        if (settings.advertiseUrl() == null && (host.equals("0.0.0.0") || host.equals("::"))) {
            System.err.println("mcp-sandbox: WARNING: cluster: other nodes cannot call " + advertised + ": set "
                    + ClusterSettings.ADVERTISE_URL + " to this node's reachable address");
        }
    }

    /**
     * Writes the local endpoint file for {@code exec} on this machine (cli/LocalEndpoint); a failure costs only the
     * hand-off and is said on stderr.
     */
    private static LocalEndpoint offerToLocalExec(Path stateDir, String host, int port, String token) {
        try {
            LocalEndpoint endpoint = LocalEndpoint.ofThisProcess(LocalEndpoint.urlFor(host, port), token);
            endpoint.write(stateDir);
            return endpoint;
        } catch (IOException | RuntimeException e) {
            System.err.println("mcp-sandbox: WARNING: exec on this machine will not hand requests to this server: "
                    + "cannot write " + stateDir.resolve(LocalEndpoint.FILE_NAME) + ": " + e.getMessage());
            return null;
        }
    }
}
