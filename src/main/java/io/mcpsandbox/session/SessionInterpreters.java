package io.mcpsandbox.session;

import io.mcpsandbox.runtime.agent.AgentChannel;
import java.util.EnumMap;
import java.util.Map;

/** A session's persistent interpreters: at most one per language, made on first use, ended with the session. */
final class SessionInterpreters {
    private final AgentChannel channel;
    private final Map<KernelLanguage, Interpreter> interpreters = new EnumMap<>(KernelLanguage.class);
    private boolean closed;

    SessionInterpreters(AgentChannel channel) {
        this.channel = channel;
    }

    synchronized Interpreter get(KernelLanguage language, String executable) {
        if (closed) {
            throw new IllegalStateException("the session is closing");
        }
        return interpreters.computeIfAbsent(language, l -> new Interpreter(channel, l, executable));
    }

    synchronized void close() {
        closed = true;
        interpreters.values().forEach(Interpreter::close);
    }
}
