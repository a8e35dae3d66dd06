package io.mcpsandbox.runtime.docker;

import com.github.dockerjava.transport.DockerHttpClient;
import io.mcpsandbox.model.ProductVersion;
import java.io.IOException;

/**
 * Names us on every Engine API request ({@code User-Agent: mcp-sandbox/VERSION}), so a daemon's logs and
 * authorization plugins can tell our calls from others'. docker-java's Apache transport has no setting for it.
 */
final class UserAgentHttpClient implements DockerHttpClient {
    static final String USER_AGENT = ProductVersion.NAME + "/" + ProductVersion.VERSION;

    private final DockerHttpClient delegate;

    UserAgentHttpClient(DockerHttpClient delegate) {
        this.delegate = delegate;
    }

    @Override
    public Response execute(Request request) {
        return delegate.execute(Request.builder().from(request).putHeader("User-Agent", USER_AGENT).build());
    }

    @Override
    public void close() throws IOException {
        delegate.close();
    }
}
