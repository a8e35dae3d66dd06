package io.mcpsandbox.api.http;

import io.mcpsandbox.api.ExecutionGateway;
import io.mcpsandbox.api.ExecutionViews;
import io.mcpsandbox.execution.ActiveExecution;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.model.SecurityEvent;
import io.mcpsandbox.record.ExecutionStoreException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.time.Clock;
import java.time.DateTimeException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The read-only views over many executions: {@code GET /v1/executions} with its filters, {@code GET
 * /v1/security-events} and {@code GET /v1/me}. A user sees their own; an admin key ({@code TOKEN:USER:admin})
 * sees every user's, or one user's with {@code user=}. Every query parameter is parsed strictly: a bad value is a
 * 400 naming it and what is allowed; a non-admin naming another user is a 403 naming {@code user}.
 *
 * <p>Filters are applied here, in memory, over the newest {@link #WINDOW} records the store gives for the scope
 * (the caller, the named user, or everyone): older records are not searched.
 */
final class ExecutionQueries {
    /** How many of the newest records a filtered listing or the security events look through, at most. */
    static final int WINDOW = 2000;
    static final int DEFAULT_LIST = 50;
    static final int MAX_EVENTS = 5000;
    static final int DEFAULT_EVENTS = 500;
    /** How far back {@code since} may reach, and its default. */
    static final Duration MAX_SINCE = Duration.ofDays(7);
    static final Duration DEFAULT_SINCE = Duration.ofHours(24);
    /** What a user id may be (as in server.api-keys). */
    private static final Pattern USER_ID = Pattern.compile("[A-Za-z0-9._@+-]{1,128}");
    /** What an image filter may be: an image name or reference. */
    private static final Pattern IMAGE = Pattern.compile("[A-Za-z0-9._:/@+-]{1,256}");
    private static final String STATUSES = String.join(", ",
            Arrays.stream(ExecutionStatus.values()).map(ExecutionStatus::wireName).toList());

    private final ExecutionGateway gateway;
    private final HttpJson http;
    private final Clock clock;

    ExecutionQueries(ExecutionGateway gateway, HttpJson http, Clock clock) {
        this.gateway = gateway;
        this.http = http;
        this.clock = clock;
    }

    /** Whose records a query covers: one user's, or everyone's ({@code userIdOrNull} null, an admin's). */
    record Scope(String userIdOrNull) {
    }

    /** A query parameter that is not valid: answered with its status (400, 403), naming it. */
    static final class BadParameter extends Exception {
        private final int status;
        private final String field;

        BadParameter(int status, String field, String message) {
            super(message, null, false, false);
            this.status = status;
            this.field = field;
        }

        void answer(HttpJson http, HttpServletResponse resp) throws IOException {
            http.error(resp, status, field, getMessage());
        }
    }

    static boolean admin(HttpServletRequest req) {
        return Boolean.TRUE.equals(req.getAttribute(AuthFilter.ADMIN));
    }

    /**
     * The {@code user} parameter against the caller: absent is the caller's own (an admin's: everyone's); a user
     * may name only themself (otherwise 403); an admin anyone.
     */
    static Scope scope(HttpServletRequest req, String user) throws BadParameter {
        String named = single(req, "user");
        boolean admin = admin(req);
        if (named == null) {
            return new Scope(admin ? null : user);
        }
        if (!USER_ID.matcher(named).matches()) {
            throw new BadParameter(400, "user", "must be a user id: 1 to 128 of A-Z a-z 0-9 . _ @ + -");
        }
        if (!admin && !named.equals(user)) {
            throw new BadParameter(403, "user", "only an admin key may name another user; leave user out for "
                    + "your own");
        }
        return new Scope(named);
    }

    /** A query parameter given at most once, not empty; null when absent. */
    static String single(HttpServletRequest req, String name) throws BadParameter {
        String[] values = req.getParameterValues(name);
        if (values == null) {
            return null;
        }
        if (values.length > 1) {
            throw new BadParameter(400, name, "give it at most once");
        }
        if (values[0].isEmpty()) {
            throw new BadParameter(400, name, "must not be empty; leave it out instead");
        }
        return values[0];
    }

    /** A whole number from 1 to {@code max}, {@code fallback} when absent. */
    static int limit(HttpServletRequest req, int fallback, int max) throws BadParameter {
        String text = single(req, "limit");
        int limit;
        try {
            limit = text == null ? fallback : text.length() > 10 ? -1 : Integer.parseInt(text);
        } catch (NumberFormatException e) {
            limit = -1;
        }
        if (limit < 1 || limit > max) {
            throw new BadParameter(400, "limit", "must be a whole number from 1 to " + max);
        }
        return limit;
    }

    /** {@code GET /v1/me}: who the key is. */
    void me(HttpServletResponse resp, String user, boolean admin) throws IOException {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("userId", user);
        body.put("admin", admin);
        http.write(resp, 200, body);
    }

    /** The filters of a listing of executions; null fields match anything. */
    private record Filter(ExecutionStatus status, String runtime, String image) {
        boolean any() {
            return status != null || runtime != null || image != null;
        }

        boolean matches(ExecutionRecord r) {
            return (status == null || status == r.status()) && (runtime == null || runtime.equals(r.runtime()))
                    && (image == null || image.equals(r.image()));
        }

        boolean matches(ActiveExecution a) {
            return (status == null || status == ExecutionStatus.RUNNING)
                    && (runtime == null || runtime.equals(a.runtime())) && (image == null || image.equals(a.image()));
        }
    }

    /** {@code status}, {@code runtime}, {@code image}. */
    private Filter filter(HttpServletRequest req) throws BadParameter {
        String statusText = single(req, "status");
        ExecutionStatus status = null;
        if (statusText != null) {
            status = Arrays.stream(ExecutionStatus.values()).filter(s -> s.wireName().equals(statusText)).findFirst()
                    .orElseThrow(() -> new BadParameter(400, "status", "must be one of " + STATUSES + "; got '"
                            + RestServlet.abbreviate(statusText) + "'"));
        }
        String runtime = single(req, "runtime");
        if (runtime != null) {
            List<String> names = gateway.runtimes().stream().map(RuntimeInfo::name).toList();
            if (!names.contains(runtime)) {
                throw new BadParameter(400, "runtime", "must be one of " + String.join(", ", names) + "; got '"
                        + RestServlet.abbreviate(runtime) + "'");
            }
        }
        String image = single(req, "image");
        if (image != null && !IMAGE.matcher(image).matches()) {
            throw new BadParameter(400, "image", "must be an image name: 1 to 256 of A-Z a-z 0-9 . _ : / @ + -");
        }
        return new Filter(status, runtime, image);
    }

    /**
     * {@code GET /v1/executions} without {@code ids}: the running executions ({@code active=true}) or the stored
     * records, newest first, without their result, filtered.
     */
    void list(HttpServletRequest req, HttpServletResponse resp, String user) throws IOException {
        try {
            String active = single(req, "active");
            if (active != null && !active.equals("true") && !active.equals("false")) {
                throw new BadParameter(400, "active", "must be true or false; got '"
                        + RestServlet.abbreviate(active) + "'");
            }
            Scope scope = scope(req, user);
            Filter filter = filter(req);
            if ("true".equals(active)) {
                List<Map<String, Object>> views = new ArrayList<>();
                for (ActiveExecution a : gateway.activeOf(scope.userIdOrNull())) {
                    if (filter.matches(a)) {
                        Map<String, Object> view = new LinkedHashMap<>(ExecutionViews.active(a));
                        view.put("userId", a.userId());
                        views.add(view);
                    }
                }
                http.write(resp, 200, Map.of("executions", views));
                return;
            }
            int limit = limit(req, DEFAULT_LIST, RestServlet.MAX_LIST);
            // Summaries: a record's result (up to a MiB or so of output) is not read only to be dropped.
            List<ExecutionRecord> records = filter.any()
                    ? gateway.listSummaries(scope.userIdOrNull(), WINDOW).stream().filter(filter::matches)
                            .limit(limit).toList()
                    : gateway.listSummaries(scope.userIdOrNull(), limit);
            http.write(resp, 200, Map.of("executions", records));
        } catch (BadParameter e) {
            e.answer(http, resp);
        } catch (ExecutionStoreException e) {
            http.error(resp, 503, null, "the execution store cannot answer right now: " + e.getMessage());
        }
    }

    /**
     * {@code GET /v1/security-events?since=&limit=&user=}: the events of executions that started at or after
     * {@code since}, newest first, each with its execution's id, user, runtime and image.
     */
    void securityEvents(HttpServletRequest req, HttpServletResponse resp, String user) throws IOException {
        try {
            Scope scope = scope(req, user);
            Instant since = since(req, clock.instant());
            int limit = limit(req, DEFAULT_EVENTS, MAX_EVENTS);
            List<ExecutionRecord> records = gateway.listSummaries(scope.userIdOrNull(), WINDOW).stream()
                    .filter(r -> r.startedAt() != null && !r.startedAt().isBefore(since))
                    .sorted(Comparator.comparing(ExecutionRecord::startedAt).reversed()).toList();
            List<Map<String, Object>> events = new ArrayList<>();
            for (ExecutionRecord r : records) {
                for (SecurityEvent e : r.securityEvents()) {
                    if (events.size() == limit) {
                        break;
                    }
                    events.add(event(r, e));
                }
            }
            http.write(resp, 200, Map.of("events", events));
        } catch (BadParameter e) {
            e.answer(http, resp);
        } catch (ExecutionStoreException e) {
            http.error(resp, 503, null, "the execution store cannot answer right now: " + e.getMessage());
        }
    }

    /** {@code since}: an ISO-8601 instant, not in the future, at most {@link #MAX_SINCE} ago. */
    private static Instant since(HttpServletRequest req, Instant now) throws BadParameter {
        String text = single(req, "since");
        if (text == null) {
            return now.minus(DEFAULT_SINCE);
        }
        Instant since;
        try {
            since = text.length() > 64 ? null : Instant.parse(text);
        } catch (DateTimeException e) {
            since = null;
        }
        if (since == null) {
            throw new BadParameter(400, "since", "must be an ISO-8601 instant such as 2026-01-31T12:00:00Z");
        }
        if (since.isAfter(now)) {
            throw new BadParameter(400, "since", "must not be in the future");
        }
        if (since.isBefore(now.minus(MAX_SINCE))) {
            throw new BadParameter(400, "since", "must not be more than " + MAX_SINCE.toDays() + " days ago");
        }
        return since;
    }

    /** One event with where it happened; {@code at} is the execution's start. */
    static Map<String, Object> event(ExecutionRecord r, SecurityEvent e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("at", r.startedAt().toString());
        m.put("executionId", r.executionId());
        m.put("userId", r.userId());
        m.put("sessionId", r.sessionId());
        m.put("runtime", r.runtime());
        m.put("image", r.image());
        m.put("type", e.type());
        m.put("severity", e.severity() == null ? null : e.severity().wireName());
        m.put("count", e.details().get("count") instanceof Number n ? n.longValue() : 1L);
        m.put("timestamp", e.timestamp() == null ? null : e.timestamp().toString());
        m.put("description", e.description());
        m.put("details", e.details());
        return m;
    }
}
