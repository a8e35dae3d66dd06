package io.mcpsandbox.api;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Who started which execution, so a user sees and terminates only their own. Bounded: the oldest entries
 * go first, as the execution service forgets old results too. Holds no results, only ownership.
 */
final class OwnedExecutions {
    private final Map<String, String> ownerById;

    OwnedExecutions(int capacity) {
        this.ownerById = new LinkedHashMap<>(16, 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, String> eldest) {
                return size() > capacity;
            }
        };
    }

    synchronized void put(String executionId, String userId) {
        ownerById.put(executionId, userId);
    }

    /** Whether {@code userId} started it: another user's execution looks like no execution. */
    synchronized boolean owns(String executionId, String userId) {
        return userId.equals(ownerById.get(executionId));
    }
}
