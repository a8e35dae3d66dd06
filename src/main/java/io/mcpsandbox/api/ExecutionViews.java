package io.mcpsandbox.api;

import io.mcpsandbox.execution.ActiveExecution;
import io.mcpsandbox.model.ExecutionStatus;
import java.util.LinkedHashMap;
import java.util.Map;

/** The shapes MCP and REST both answer with, so the two interfaces describe an execution the same way. */
public final class ExecutionViews {
    private ExecutionViews() {
    }

    /** A running execution, as listed by list_active_executions and {@code GET /v1/executions?active=true}. */
    public static Map<String, Object> active(ActiveExecution a) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("executionId", a.executionId());
        m.put("status", ExecutionStatus.RUNNING.wireName());
        m.put("runtime", a.runtime());
        m.put("securityLevel", a.securityLevel().wireName());
        m.put("image", a.image());
        m.put("startedAt", a.startedAt().toString());
        if (a.sessionId() != null) {
            m.put("sessionId", a.sessionId());
        }
        return m;
    }
}
