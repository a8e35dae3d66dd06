package io.mcpsandbox.network;

import java.util.List;

/**
 * What a request or session asks for: {@code network: true} (the server's whole list) or
 * {@code network: {"allow": [...]}} (names or {@code *.} patterns the server's list must cover).
 *
 * @param enabled whether network was asked for at all
 * @param allow   empty: the server's whole list for that user; else only these
 */
public record NetworkRequest(boolean enabled, List<String> allow) {
    /** No network (the default). */
    public static final NetworkRequest OFF = new NetworkRequest(false, List.of());

    public NetworkRequest {
        allow = List.copyOf(allow);
    }
}
