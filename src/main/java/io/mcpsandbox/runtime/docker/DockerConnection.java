package io.mcpsandbox.runtime.docker;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.exception.DockerException;
import com.github.dockerjava.api.model.Info;
import com.github.dockerjava.core.DefaultDockerClientConfig;
import com.github.dockerjava.core.DockerClientConfig;
import com.github.dockerjava.core.DockerClientImpl;
import com.github.dockerjava.httpclient5.ApacheDockerHttpClient;
import java.io.IOException;
import java.time.Duration;
import java.util.Optional;

/**
 * The Engine API clients of one daemon, made on first use and closed with this: one for calls that answer at
 * once, one for long-lived streams. Also the daemon's info (ping, versions, runtimes, cgroup driver).
 */
public final class DockerConnection implements AutoCloseable {
    public static final String DEFAULT_HOST = "unix:///var/run/docker.sock";

    private final String host;
    private volatile DockerClient control;
    private volatile DockerClient streams;
    private volatile String cgroupDriver;

    /** @param host the daemon's address, e.g. {@link #DEFAULT_HOST} */
    public DockerConnection(String host) {
        this.host = host;
    }

    public String host() {
        return host;
    }

    /** Calls that answer at once (create, inspect, kill, remove): bounded by a response timeout. */
    DockerClient control() {
        DockerClient c = control;
        if (c == null) {
            synchronized (this) {
                if (control == null) {
                    control = client(Duration.ofSeconds(60));
                }
                c = control;
            }
        }
        return c;
    }

    /** Long-lived calls (attach, wait, image import): no response timeout; the execution's deadline bounds them. */
    DockerClient streams() {
        DockerClient c = streams;
        if (c == null) {
            synchronized (this) {
                if (streams == null) {
                    streams = client(null);
                }
                c = streams;
            }
        }
        return c;
    }

    private DockerClient client(Duration responseTimeout) {
        DockerClientConfig config = DefaultDockerClientConfig.createDefaultConfigBuilder()
                .withDockerHost(host).withDockerTlsVerify(false).build();
        ApacheDockerHttpClient.Builder http = new ApacheDockerHttpClient.Builder()
                .dockerHost(config.getDockerHost()).sslConfig(config.getSSLConfig())
                .maxConnections(256).connectionTimeout(Duration.ofSeconds(10));
        if (responseTimeout != null) {
            http.responseTimeout(responseTimeout);
        }
        return DockerClientImpl.getInstance(config, new UserAgentHttpClient(http.build()));
    }

    /** The daemon's info, or why it does not answer. */
    Info info() throws IOException {
        try {
            control().pingCmd().exec();
            return control().infoCmd().exec();
        } catch (RuntimeException e) {
            throw new IOException("no Docker daemon answers at " + host + ": " + rootMessage(e), e);
        }
    }

    /** The daemon's cgroup driver ({@code cgroupfs}, {@code systemd}), asked once; empty while it does not answer. */
    Optional<String> cgroupDriver() {
        String driver = cgroupDriver;
        if (driver == null) {
            try {
                driver = String.valueOf(info().getCGroupDriver());
                cgroupDriver = driver;
            } catch (IOException e) {
                return Optional.empty();
            }
        }
        return Optional.of(driver);
    }

    /** The most telling message of a docker-java failure (the daemon's own, or the innermost cause's). */
    static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        String m = e instanceof DockerException ? e.getMessage() : t.getMessage();
        return (m == null ? t.getClass().getSimpleName() : m).strip();
    }

    @Override
    public void close() {
        for (DockerClient c : new DockerClient[] {control, streams}) {
            if (c != null) {
                try {
                    c.close();
                } catch (IOException ignored) {
                    // closing
                }
            }
        }
    }
}
