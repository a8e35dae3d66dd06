package io.mcpsandbox.api.http;

import io.mcpsandbox.api.SandboxApi;
import io.modelcontextprotocol.server.transport.HeaderAccessor;
import io.modelcontextprotocol.server.transport.ServerHttpHeaderValidator;
import io.modelcontextprotocol.server.transport.ServerTransportSecurityException;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpFilter;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lets a request through only with a valid API key, and records the key's user on the request. For REST it
 * also applies the Origin/Host validation that the MCP transport applies to /mcp itself.
 */
final class AuthFilter extends HttpFilter {
    /** Request attribute holding the authenticated user id. */
    static final String USER = SandboxApi.USER;
    /** Boolean: the key is an admin key (sees every user's queue). */
    static final String ADMIN = "io.mcpsandbox.admin";
    private static final Logger log = LoggerFactory.getLogger(AuthFilter.class);

    private final ApiKeys keys;
    private final HttpJson http;
    private final ServerHttpHeaderValidator originValidator;
    private final boolean validateOrigin;

    /** @param validateOrigin false where the next handler validates Origin/Host itself (the MCP transport) */
    AuthFilter(ApiKeys keys, HttpJson http, ServerHttpHeaderValidator originValidator, boolean validateOrigin) {
        this.keys = keys;
        this.http = http;
        this.originValidator = originValidator;
        this.validateOrigin = validateOrigin;
    }

    @Override
    protected void doFilter(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws IOException, ServletException {
        Optional<ApiKeys.Caller> user = keys.caller(request.getHeader("Authorization"));
        if (user.isEmpty()) {
            // Never log the header: it may hold a real key with a typo.
            log.debug("401 for {} {} from {}", request.getMethod(), request.getRequestURI(), request.getRemoteAddr());
            response.setHeader("WWW-Authenticate", "Bearer realm=\"mcp-sandbox\"");
            http.error(response, HttpServletResponse.SC_UNAUTHORIZED, null,
                    "missing or invalid API key: send Authorization: Bearer <key>");
            return;
        }
        if (validateOrigin) {
            try {
                originValidator.validate(headers(request));
            } catch (ServerTransportSecurityException e) {
                http.error(response, e.getStatusCode(), null, e.getMessage());
                return;
            }
        }
        request.setAttribute(USER, user.get().userId());
        request.setAttribute(ADMIN, user.get().admin());
        chain.doFilter(request, response);
    }

    static HeaderAccessor headers(HttpServletRequest request) {
        return new HeaderAccessor() {
            @Override
            public List<String> getHeader(String name) {
                return Collections.list(request.getHeaders(name));
            }

            @Override
            public List<String> getHeaderNames() {
                return Collections.list(request.getHeaderNames());
            }
        };
    }
}
