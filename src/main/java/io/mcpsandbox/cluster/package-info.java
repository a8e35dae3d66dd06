/**
 * Cluster mode (issue 17): membership, status and drain. Several {@code serve --cluster} nodes share one
 * Redis: each proves the cluster secret when it joins (an HMAC of a fixed label, never the secret itself), keeps
 * a heartbeat hash with a TTL, and reads a drain flag that only a holder of the secret can set. On it: session
 * routing ({@link io.mcpsandbox.cluster.ClusterSessions}), per-user limits across nodes
 * ({@link io.mcpsandbox.cluster.ClusterUserSlots}), and work distribution with the executions of a lost node
 * ({@link io.mcpsandbox.cluster.ClusterWork}: signed stream entries, exactly-once claims).
 *
 * <p>Everything read from Redis is treated as hostile input: Redis is shared, so a field may be garbage; it is
 * parsed with bounds and never trusted for more than a listing. Above {@code execution} and {@code session}:
 * what a node reports about itself comes in as a {@link io.mcpsandbox.cluster.NodeReport} supplier, so nothing
 * here reaches into them.
 */
package io.mcpsandbox.cluster;
