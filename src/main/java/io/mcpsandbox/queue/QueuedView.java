package io.mcpsandbox.queue;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.mcpsandbox.model.ExecutionStatus;
import java.time.Instant;

/**
 * What a caller sees of a queued execution (GET /v1/executions/{id}, GET /v1/queue, MCP get_execution).
 *
 * @param position         1 = the next to start if every turn is taken; 0 = starting now
 * @param estimatedStartAt from the position, the slots and how long recent queued executions ran: a guess (null
 *                         when read from the store without a server: the CLI)
 */
public record QueuedView(String executionId, ExecutionStatus status, String userId, int priority, int position,
                         Instant queuedAt,
                         @JsonInclude(JsonInclude.Include.NON_NULL) Instant estimatedStartAt) {
}
