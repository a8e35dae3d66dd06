package io.mcpsandbox.api;

import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.runtime.agent.DirectoryListing;
import io.mcpsandbox.runtime.agent.FileEntry;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The shapes MCP and REST both answer with for sessions ({@link RequestSchemas#session()},
 * {@link RequestSchemas#fileListing()}). A view never says where the sandbox is (its name, the server holding
 * it) nor who owns it: the caller does.
 */
public final class SessionViews {
    private SessionViews() {
    }

    public static Map<String, Object> session(SessionRecord r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("sessionId", r.sessionId());
        m.put("status", r.status().wireName());
        m.put("image", r.image());
        m.put("runtime", r.runtime());
        m.put("securityLevel", r.securityLevel().wireName());
        m.put("rootfs", r.rootfs());
        m.put("limits", limits(r.limits()));
        m.put("createdAt", text(r.createdAt()));
        m.put("expiresAt", text(r.expiresAt()));
        m.put("idleTimeoutSeconds", r.idleTimeoutSeconds());
        m.put("idleExpiresAt", r.isOpen() ? text(r.idleExpiresAt()) : null);
        m.put("lastActiveAt", text(r.lastActiveAt()));
        m.put("executions", r.executions());
        if (!r.isOpen()) {
            m.put("closeReason", r.closeReason() == null ? null : r.closeReason().wireName());
            m.put("closeDetail", r.closeDetail());
            m.put("closedAt", text(r.closedAt()));
        }
        return m;
    }

    /** {@code {"sessions": [view...]}}. */
    public static Map<String, Object> sessions(List<SessionRecord> records) {
        return Map.of("sessions", records.stream().map(SessionViews::session).toList());
    }

    /** The entries as the agent gave them: names are the sandbox's text, left for the JSON writer to escape. */
    public static Map<String, Object> listing(String dir, DirectoryListing listing) {
        List<Map<String, Object>> entries = listing.entries().stream().map(SessionViews::entry).toList();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("dir", dir);
        m.put("entries", entries);
        m.put("truncated", listing.truncated());
        return m;
    }

    private static Map<String, Object> entry(FileEntry e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", e.name());
        m.put("type", switch (e.kind()) {
            case FILE -> "file";
            case DIRECTORY -> "dir";
            case LINK -> "link";
            case OTHER -> "other";
        });
        m.put("size", e.size());
        m.put("modifiedAt", modified(e.mtimeSeconds()));
        return m;
    }

    /** The agent's claim, as a time; null for one no time can be (it comes from the sandbox). */
    private static String modified(long epochSeconds) {
        try {
            return Instant.ofEpochSecond(epochSeconds).toString();
        } catch (java.time.DateTimeException e) {
            return null;
        }
    }

    private static Map<String, Object> limits(ResourceLimits l) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("timeoutMs", l.timeout().toMillis());
        m.put("memoryBytes", l.memoryBytes());
        m.put("cpus", l.cpus());
        m.put("pids", l.pids());
        m.put("outputBytes", l.outputBytes());
        m.put("tmpBytes", l.tmpBytes());
        return m;
    }

    private static String text(Instant at) {
        return at == null ? null : at.toString();
    }
}
