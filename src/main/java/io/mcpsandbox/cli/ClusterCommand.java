package io.mcpsandbox.cli;

import io.mcpsandbox.api.Json;
import io.mcpsandbox.cluster.ClusterJoinException;
import io.mcpsandbox.cluster.ClusterRedis;
import io.mcpsandbox.cluster.ClusterSettings;
import io.mcpsandbox.cluster.ClusterStatus;
import io.mcpsandbox.cluster.NodeView;
import io.mcpsandbox.config.ConfigLoader;
import io.mcpsandbox.config.Settings;
import java.io.PrintWriter;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import redis.clients.jedis.exceptions.JedisException;

/**
 * {@code cluster status|drain|undrain}: the cluster as its Redis holds it, read and written directly (no server
 * needed), with the cluster secret: a command with another secret is refused as a node would be.
 */
@Command(name = "cluster", mixinStandardHelpOptions = true,
        description = "Cluster mode (serve --cluster): list the nodes, drain one, undrain it. Reads the cluster's "
                + "Redis directly (see docs/cluster.md).",
        subcommands = {ClusterCommand.Status.class, ClusterCommand.Drain.class, ClusterCommand.Undrain.class},
        footer = {"", "Needs MCP_SANDBOX_REDIS_URL (redis.url) and MCP_SANDBOX_CLUSTER_SECRET (cluster.secret), as the "
                + "nodes have them.", "",
                "Exit status: 0 done; 2 bad arguments or settings; 3 Redis cannot be reached; 4 the secret or protocol "
                + "does not match the cluster's; 5 no such node."})
final class ClusterCommand implements Runnable {
    static final int BAD_SETTINGS = 2;
    static final int UNREACHABLE = 3;
    static final int MISMATCH = 4;
    static final int NO_SUCH_NODE = 5;

    @Override
    public void run() {
        System.err.println("mcp-sandbox cluster: give a subcommand: status [--json], drain NODE, undrain NODE "
                + "(see --help)");
    }

    /** Connects with the settings of the environment and the config file, checks the secret, then acts. */
    abstract static class RedisCommand implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        abstract int call(ClusterRedis redis, PrintWriter out, PrintWriter err);

        @Override
        public final Integer call() {
            PrintWriter err = spec.commandLine().getErr();
            String name = "mcp-sandbox cluster " + spec.name();
            try {
                Settings settings = new ConfigLoader(System.getenv()).settings();
                ClusterSettings cluster = ClusterSettings.from(settings);
                try (ClusterRedis redis = new ClusterRedis(cluster.redisUrl(), cluster.secret(),
                        Duration.ofSeconds(5), Clock.systemUTC())) {
                    try {
                        redis.checkJoin();
                        return call(redis, spec.commandLine().getOut(), err);
                    } catch (ClusterJoinException e) {
                        err.println(name + ": " + e.getMessage());
                        return MISMATCH;
                    } catch (JedisException e) {
                        err.println(name + ": Redis at " + redis.maskedUrl() + " cannot be reached: " + e.getMessage());
                        return UNREACHABLE;
                    }
                }
            } catch (IllegalArgumentException e) {
                err.println(name + ": " + e.getMessage());
                return BAD_SETTINGS;
            } finally {
                spec.commandLine().getOut().flush();
                err.flush();
            }
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true,
            description = {"Lists the cluster's nodes: id, state (active, draining, dead), address, usable runtimes, "
                    + "load (active executions / admission.max-concurrent, pooled sandboxes ready) and the last "
                    + "heartbeat.", "Dead nodes are listed for an hour after their last heartbeat, then pruned."})
    static final class Status extends RedisCommand {
        @Option(names = "--json", description = "Print one JSON object: protocol, readAt, counts, nodes.")
        boolean json;

        @Override
        int call(ClusterRedis redis, PrintWriter out, PrintWriter err) {
            ClusterStatus status = redis.status();
            if (json) {
                out.println(Json.mapper().writeValueAsString(status));
                return 0;
            }
            out.printf("%-32s %-9s %-28s %-20s %-12s %s%n", "NODE", "STATE", "ADDRESS", "RUNTIMES", "LOAD",
                    "LAST HEARTBEAT");
            for (NodeView n : status.nodes()) {
                NodeView.Capacity c = n.capacity();
                String load = c.maxInFlight() < 0 ? "-" : c.active() + "/" + c.maxInFlight()
                        + (c.poolReady() > 0 ? " +" + c.poolReady() : "");
                out.printf("%-32s %-9s %-28s %-20s %-12s %s%n", n.id(), n.state(), n.url() == null ? "-" : n.url(),
                        n.runtimes().isEmpty() ? "-" : String.join(",", n.runtimes()), load, ago(n.heartbeatAt(),
                                status.readAt()));
            }
            ClusterStatus.Counts counts = status.counts();
            out.println(counts.active() + " active, " + counts.draining() + " draining, " + counts.dead() + " dead");
            return 0;
        }

        private static String ago(Instant at, Instant now) {
            if (at == null) {
                return "-";
            }
            long ms = Math.max(0, Duration.between(at, now).toMillis());
            return at + " (" + (ms < 10_000 ? String.format("%.1f", ms / 1000.0) : Long.toString(ms / 1000))
                    + " s ago)";
        }
    }

    @Command(name = "drain", mixinStandardHelpOptions = true,
            description = {"Stops new work on NODE: within one heartbeat it shows 'draining' and answers new "
                    + "executions and sessions with 503; running executions and open sessions finish there.",
                    "The flag stays (across the node's restarts) until 'cluster undrain NODE'."})
    static final class Drain extends RedisCommand {
        @Parameters(paramLabel = "NODE", description = "The node's id, as 'cluster status' lists it.")
        String node;

        @Override
        int call(ClusterRedis redis, PrintWriter out, PrintWriter err) {
            return flag(redis, node, true, out, err);
        }
    }

    @Command(name = "undrain", mixinStandardHelpOptions = true,
            description = "Lets NODE take new work again (within one heartbeat).")
    static final class Undrain extends RedisCommand {
        @Parameters(paramLabel = "NODE", description = "The node's id, as 'cluster status' lists it.")
        String node;

        @Override
        int call(ClusterRedis redis, PrintWriter out, PrintWriter err) {
            return flag(redis, node, false, out, err);
        }
    }

    private static int flag(ClusterRedis redis, String node, boolean drain, PrintWriter out, PrintWriter err) {
        if (!redis.setDrain(node, drain)) {
            List<String> known = redis.status().nodes().stream().map(NodeView::id).toList();
            err.println("mcp-sandbox cluster " + (drain ? "drain" : "undrain") + ": no node '"
                    + (node.length() > 80 ? node.substring(0, 80) + "..." : node).replaceAll("[^\\x20-\\x7e]", "?")
                    + "' in the cluster" + (known.isEmpty() ? "" : "; its nodes: " + String.join(", ", known)));
            return NO_SUCH_NODE;
        }
        out.println("node " + node + (drain ? " drains: it takes no new work from its next heartbeat on"
                : " takes new work again from its next heartbeat on"));
        return 0;
    }
}
