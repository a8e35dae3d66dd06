package io.mcpsandbox.api.http;

import io.mcpsandbox.api.SandboxApi;
import io.mcpsandbox.api.ui.ConsoleServlet;
import io.mcpsandbox.api.ui.CspReportServlet;
import io.mcpsandbox.config.ServerConfig;
import io.modelcontextprotocol.common.McpTransportContext;
import io.modelcontextprotocol.json.McpJsonDefaults;
import io.modelcontextprotocol.server.McpAsyncServer;
import io.modelcontextprotocol.server.transport.DefaultServerTransportSecurityValidator;
import io.modelcontextprotocol.server.transport.HttpServletStreamableServerTransportProvider;
import io.modelcontextprotocol.server.transport.ServerTransportSecurityException;
import io.modelcontextprotocol.spec.McpStreamableServerTransportProvider;
import jakarta.servlet.DispatcherType;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SizeLimitHandler;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * One Jetty server: MCP Streamable HTTP at {@code /mcp}, REST at {@code /v1}, {@code /metrics} and
 * {@code /healthz}. Everything but {@code /healthz} needs an API key.
 */
public final class HttpApiServer implements AutoCloseable {
    /** Jetty's own body guard sits a little above ours, so ours answers first with a clear message. */
    private static final long JETTY_LIMIT_SLACK = 64 * 1024;

    private final Server server;
    private final McpAsyncServer mcp;
    private final ServerConnector connector;

    private HttpApiServer(Server server, McpAsyncServer mcp, ServerConnector connector) {
        this.server = server;
        this.mcp = mcp;
        this.connector = connector;
    }

    /** Builds the MCP server over the HTTP transport; the user of a call is {@link SandboxApi#USER} in its context. */
    @FunctionalInterface
    public interface McpFactory {
        McpAsyncServer create(SandboxApi api, McpStreamableServerTransportProvider transport);
    }

    /** Starts serving on {@code host:port} (port 0: any free port; see {@link #port()}). */
    public static HttpApiServer start(SandboxApi api, ServerConfig config, ApiKeys keys, String host, int port,
                                      McpFactory mcpFactory) throws Exception {
        HttpJson http = new HttpJson(api.json(), config.maxRequestBytes());
        DefaultServerTransportSecurityValidator originValidator = DefaultServerTransportSecurityValidator.builder()
                .allowedOrigins(config.allowedOrigins())
                .allowedHosts(config.allowedHosts().isEmpty() ? defaultHosts(host) : config.allowedHosts())
                .build();

        HttpServletStreamableServerTransportProvider transport = HttpServletStreamableServerTransportProvider.builder()
                .jsonMapper(McpJsonDefaults.getMapper())
                .mcpEndpoint("/mcp")
                .httpHeaderValidator(originValidator)
                .maxRequestSize((int) config.maxRequestBytes())
                .keepAliveInterval(Duration.ofSeconds(30))
                // The caller's key goes with its calls: a tool call for a session another cluster node holds is
                // forwarded there with it (api.mcp.SessionForwarder); the AuthFilter has checked it already.
                .contextExtractor(request -> McpTransportContext.create(
                        Map.of(AuthFilter.USER, request.getAttribute(AuthFilter.USER),
                                "Authorization", request.getHeader("Authorization"))))
                .build();
        McpAsyncServer mcp = mcpFactory.create(api, transport);

        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("http");
        // Platform threads, not virtual ones: the execution core pins virtual-thread carriers while it reads
        // sandbox output (blocking FIFO reads), which would starve request handling on a small machine.
        Server server = new Server(threads);
        HttpConfiguration httpConfig = new HttpConfiguration();
        httpConfig.setSendServerVersion(false);
        httpConfig.setSendXPoweredBy(false);
        ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(httpConfig));
        connector.setHost(host);
        connector.setPort(port);
        // A body that stops arriving holds a thread until this passes; then the read fails and gets a 408.
        connector.setIdleTimeout(config.idleTimeout().toMillis());
        server.addConnector(connector);

        ServletContextHandler context = new ServletContextHandler();
        context.setContextPath("/");
        ServletHolder mcpHolder = new ServletHolder("mcp", transport);
        mcpHolder.setAsyncSupported(true);
        context.addServlet(mcpHolder, "/mcp");
        ServletHolder restHolder = new ServletHolder("rest",
                new RestServlet(api.gateway(), api.sessions(), api.parser(), api.json(), http,
                        api.config().maxLimits().timeout()));
        restHolder.setAsyncSupported(true);
        context.addServlet(restHolder, "/v1/*");
        context.addServlet(new ServletHolder("stats", new OverviewServlets.Stats(api, http)), "/v1/stats");
        context.addServlet(new ServletHolder("images", new OverviewServlets.Images(api, http)), "/v1/images");
        context.addServlet(new ServletHolder("cluster", new ClusterServlet(api::clusterNode, http)),
                "/v1/cluster");
        context.addServlet(new ServletHolder("metrics", new PlainServlets.Metrics(api.metrics())), "/metrics");
        // The console's files need no key (they hold no data); the API's Host/Origin check still applies.
        context.addServlet(new ServletHolder("console", new ConsoleServlet(request -> {
            try {
                originValidator.validate(AuthFilter.headers(request));
                return Optional.empty();
            } catch (ServerTransportSecurityException e) {
                return Optional.of(e.getMessage());
            }
        })), "/ui/*");
        context.addServlet(new ServletHolder("csp-reports", new CspReportServlet(api.metrics(), api.json())),
                ConsoleServlet.REPORT_PATH);
        context.addServlet(new ServletHolder("healthz", new PlainServlets.Health(http, keys, api::storeHealth)),
                "/healthz");
        JsonErrorHandler errors = new JsonErrorHandler(api.json(), config.maxRequestBytes());
        context.setErrorHandler(errors.forServlets());
        // Only the methods some endpoint serves; TRACE, OPTIONS, PATCH and made-up ones get a JSON 405.
        FilterHolder methods = new FilterHolder(new MethodFilter(http));
        methods.setAsyncSupported(true);
        context.addFilter(methods, "/*", EnumSet.of(DispatcherType.REQUEST));

        FilterHolder mcpAuth = new FilterHolder(new AuthFilter(keys, http, originValidator, false));
        mcpAuth.setAsyncSupported(true);
        context.addFilter(mcpAuth, "/mcp", EnumSet.of(DispatcherType.REQUEST));
        context.addFilter(mcpAuth, "/mcp/*", EnumSet.of(DispatcherType.REQUEST));
        // After the key check, so an unauthenticated caller never gets a body read.
        FilterHolder mcpCheck = new FilterHolder(new McpRequestFilter(http, McpJsonDefaults.getMapper()));
        mcpCheck.setAsyncSupported(true);
        context.addFilter(mcpCheck, "/mcp", EnumSet.of(DispatcherType.REQUEST));
        FilterHolder restAuth = new FilterHolder(new AuthFilter(keys, http, originValidator, true));
        restAuth.setAsyncSupported(true);
        context.addFilter(restAuth, "/v1/*", EnumSet.of(DispatcherType.REQUEST));
        context.addFilter(restAuth, "/metrics", EnumSet.of(DispatcherType.REQUEST));

        // JSON bodies are bounded by server.max-request-bytes where they are read; a session file may be larger.
        long largestBody = Math.max(config.maxRequestBytes(), api.sessions().settings().maxFileBytes());
        SizeLimitHandler limit = new SizeLimitHandler(largestBody + JETTY_LIMIT_SLACK, -1);
        limit.setHandler(context);
        server.setHandler(limit);
        server.setErrorHandler(errors);
        server.setStopTimeout(5_000);
        try {
            server.start();
        } catch (Exception e) {
            mcp.close();
            server.stop();
            throw e;
        }
        return new HttpApiServer(server, mcp, connector);
    }

    /** Bound to loopback: accept only loopback Host names, which defeats DNS rebinding. Else: any Host. */
    static List<String> defaultHosts(String host) {
        try {
            if (InetAddress.getByName(host).isLoopbackAddress()) {
                return List.of("localhost:*", "127.0.0.1:*", "[::1]:*");
            }
        } catch (UnknownHostException e) {
            // Jetty will fail to bind with a clearer message
        }
        return List.of();
    }

    public int port() {
        return connector.getLocalPort();
    }

    public InetSocketAddress address() {
        return new InetSocketAddress(connector.getHost() == null ? "0.0.0.0" : connector.getHost(), port());
    }

    public void join() throws InterruptedException {
        server.join();
    }

    @Override
    public void close() throws Exception {
        mcp.closeGracefully().block(Duration.ofSeconds(5));
        server.stop();
    }
}
