package io.mcpsandbox.record;

import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.exceptions.JedisException;

/**
 * A real redis-server of the test's own, on a free port (never 6379), as a child process: started, killed
 * (SIGKILL, like a crash), paused (SIGSTOP) and started again on the same port and directory.
 */
public final class RedisServerProcess implements AutoCloseable {
    static final Path BINARY = Path.of("/usr/bin/redis-server");

    private final int port;
    private final Path dir;
    private final boolean persistent;
    private final String password;
    private Process process;

    /**
     * @param persistent append-only file with fsync on every write, so a killed and restarted server keeps
     *                   what it acknowledged (a Redis that loses data on restart is another kind of failure)
     * @param password   requirepass, or null
     */
    public RedisServerProcess(Path dir, boolean persistent, String password) throws IOException {
        requireBinary();
        this.port = freePort();
        this.dir = Files.createDirectories(dir);
        this.persistent = persistent;
        this.password = password;
    }

    /** Fails (not skips) the test when redis-server is missing: CI installs it. */
    static void requireBinary() {
        if (!Files.isExecutable(BINARY)) {
            fail(BINARY + " is missing: the execution store tests need a real Redis; install it with "
                    + "'apt-get install redis-server' (.ci/run does)");
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    int port() {
        return port;
    }

    public String url() {
        return password == null ? "redis://127.0.0.1:" + port : "redis://:" + password + "@127.0.0.1:" + port;
    }

    public synchronized RedisServerProcess start() throws IOException, InterruptedException {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException("already running");
        }
        List<String> argv = new ArrayList<>(List.of(BINARY.toString(), "--port", Integer.toString(port),
                "--bind", "127.0.0.1", "--daemonize", "no", "--save", "", "--dir", dir.toString(),
                "--appendonly", persistent ? "yes" : "no", "--appendfsync", "always", "--logfile", ""));
        if (password != null) {
            argv.addAll(List.of("--requirepass", password));
        }
        Path log = dir.resolve("redis.log");
        process = new ProcessBuilder(argv).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                fail("redis-server on port " + port + " exited with " + process.exitValue() + ":\n"
                        + Files.readString(log));
            }
            try (Jedis jedis = client()) {
                if ("PONG".equals(jedis.ping())) {
                    return this;
                }
            } catch (JedisException e) {
                // still loading or not listening yet
            }
            Thread.sleep(20);
        }
        fail("redis-server on port " + port + " did not answer within 15 s:\n" + Files.readString(log));
        return this;
    }

    /** Started again if a test killed it, resumed if a test paused it: the state the next test expects. */
    public synchronized void ensureRunning() throws IOException, InterruptedException {
        if (process != null && process.isAlive()) {
            try {
                resume();
                return;
            } catch (IllegalStateException e) {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    throw e; // alive and not signalled: not a state the next test can use
                }
                // it died in between (a test killed it): started below
            }
        }
        start();
    }

    /** A direct client, to check what the store wrote. */
    public Jedis client() {
        DefaultJedisClientConfig.Builder config = DefaultJedisClientConfig.builder().timeoutMillis(2_000);
        if (password != null) {
            config.password(password);
        }
        return new Jedis(new HostAndPort("127.0.0.1", port), config.build());
    }

    /** SIGKILL, as a crash or an OOM kill would. */
    synchronized void kill() throws InterruptedException {
        if (process != null) {
            process.destroyForcibly();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException("redis-server " + process.pid() + " did not die");
            }
        }
    }

    /** SIGSTOP: the port still accepts connections, nothing answers. */
    void pause() throws IOException, InterruptedException {
        signal("STOP");
    }

    void resume() throws IOException, InterruptedException {
        signal("CONT");
    }

    private void signal(String name) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).inheritIO().start();
        if (p.waitFor() != 0) {
            throw new IllegalStateException("kill -" + name + " " + process.pid() + " failed");
        }
    }

    @Override
    public synchronized void close() {
        if (process != null && process.isAlive()) {
            try {
                resume();
            } catch (IOException | RuntimeException e) {
                // it may not be paused
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            process.destroyForcibly();
            // Wait for the exit: a caller that starts it again right after must not find it still "alive"
            // (it would signal a pid that is dying, or start a second server on the same port).
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("redis-server " + process.pid() + " did not die");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
