package io.mcpsandbox.api.http;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpFilter;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.Set;

/**
 * Lets through only the methods an endpoint serves. The servlet defaults would answer OPTIONS with 200, TRACE
 * by echoing the request (headers included) and an unknown method with 501; here each is a JSON 405. A
 * charset other than UTF-8 is a JSON 415.
 */
final class MethodFilter extends HttpFilter {
    private static final Set<String> SERVED = Set.of("GET", "HEAD", "POST", "PUT", "DELETE");
    private final HttpJson http;

    MethodFilter(HttpJson http) {
        this.http = http;
    }

    @Override
    protected void doFilter(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws IOException, ServletException {
        if (!SERVED.contains(request.getMethod())) {
            response.setHeader("Allow", "GET, HEAD, POST, PUT, DELETE");
            http.error(response, 405, null, "method not allowed: use GET, POST, PUT or DELETE as the endpoint "
                    + "says");
            return;
        }
        // Jetty fails with a 500 on a charset it does not know once anything reads parameters or the body.
        String type = request.getHeader("Content-Type");
        if (type != null && type.toLowerCase(java.util.Locale.ROOT).contains("charset=")
                && "Content-Type charset must be UTF-8".equals(HttpJson.contentTypeProblem(type))) {
            http.error(response, 415, null, "Content-Type charset must be UTF-8");
            return;
        }
        chain.doFilter(request, response);
    }
}
