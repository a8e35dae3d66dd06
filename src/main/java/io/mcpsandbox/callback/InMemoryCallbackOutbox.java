package io.mcpsandbox.callback;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** A {@link CallbackOutbox} in memory: for tests, and for servers that accept losing callbacks on restart. */
public final class InMemoryCallbackOutbox implements CallbackOutbox {
    private final Map<String, PendingCallback> entries = new ConcurrentHashMap<>();

    @Override
    public void save(PendingCallback pending) {
        entries.put(pending.executionId(), pending);
    }

    @Override
    public void remove(String executionId) {
        entries.remove(executionId);
    }

    @Override
    public List<PendingCallback> pending() {
        return List.copyOf(entries.values());
    }
}
