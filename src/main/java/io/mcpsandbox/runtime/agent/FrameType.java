package io.mcpsandbox.runtime.agent;

import java.util.Locale;
import java.util.Optional;

/**
 * The frame types of protocol version 3: code, direction and the payload sizes each allows. The agent's
 * connection frames that share a name with the host's ({@code conn_data}, {@code conn_eof}, {@code conn_ack})
 * are {@code AGENT_*} here and carry the spec's name as their label.
 */
public enum FrameType {
    START(0x01, Direction.TO_AGENT, 8, AgentProtocol.MAX_PAYLOAD),
    STDIN(0x02, Direction.TO_AGENT, 1, AgentProtocol.MAX_PAYLOAD),
    STDIN_CLOSE(0x03, Direction.TO_AGENT, 0, 0),
    SIGNAL(0x04, Direction.TO_AGENT, 1, 1),
    SHUTDOWN(0x05, Direction.TO_AGENT, 0, 0),
    FILE_WRITE(0x06, Direction.TO_AGENT, 4 + 2, 4 + AgentProtocol.MAX_PATH + 1),
    FILE_CHUNK(0x07, Direction.TO_AGENT, 1, AgentProtocol.MAX_PAYLOAD),
    FILE_END(0x08, Direction.TO_AGENT, 0, 0),
    FILE_ABORT(0x09, Direction.TO_AGENT, 0, 0),
    FILE_READ(0x0a, Direction.TO_AGENT, 8 + 2, 8 + AgentProtocol.MAX_PATH + 1),
    FILE_LIST(0x0b, Direction.TO_AGENT, 4 + 2, 4 + AgentProtocol.MAX_PATH + 1),
    FILE_DELETE(0x0c, Direction.TO_AGENT, 2, AgentProtocol.MAX_PATH + 1),
    NET_LISTEN(0x0d, Direction.TO_AGENT, 2, 2),
    CONN_DATA(0x0e, Direction.TO_AGENT, 1, AgentProtocol.MAX_PAYLOAD),
    CONN_EOF(0x0f, Direction.TO_AGENT, 0, 0),
    CONN_CLOSE(0x10, Direction.TO_AGENT, 0, 0),
    CONN_ACK(0x11, Direction.TO_AGENT, 0, 0),
    READY(0x81, Direction.TO_HOST, 2, 2 + AgentProtocol.MAX_AGENT_NAME),
    STARTED(0x82, Direction.TO_HOST, 4, 4),
    STDOUT(0x83, Direction.TO_HOST, 1, AgentProtocol.MAX_PAYLOAD),
    STDERR(0x84, Direction.TO_HOST, 1, AgentProtocol.MAX_PAYLOAD),
    EXIT(0x85, Direction.TO_HOST, 2, 2),
    ERROR(0x86, Direction.TO_HOST, 1, AgentProtocol.MAX_ERROR_TEXT),
    FILE_DATA(0x87, Direction.TO_HOST, 1, AgentProtocol.MAX_PAYLOAD),
    FILE_ENTRY(0x88, Direction.TO_HOST, AgentProtocol.ENTRY_HEADER + 1,
            AgentProtocol.ENTRY_HEADER + AgentProtocol.MAX_NAME),
    FILE_DONE(0x89, Direction.TO_HOST, 1, 1 + AgentProtocol.MAX_ERROR_TEXT),
    STDIN_TAKEN(0x8a, Direction.TO_HOST, 0, 0),
    NET_STATUS(0x8b, Direction.TO_HOST, 1, 1 + AgentProtocol.MAX_ERROR_TEXT),
    CONN_OPEN(0x8c, Direction.TO_HOST, 0, 0),
    AGENT_CONN_DATA(0x8d, Direction.TO_HOST, 1, AgentProtocol.MAX_PAYLOAD),
    AGENT_CONN_EOF(0x8e, Direction.TO_HOST, 0, 0),
    CONN_CLOSED(0x8f, Direction.TO_HOST, 0, 0),
    AGENT_CONN_ACK(0x90, Direction.TO_HOST, 0, 0);

    /** Who sends a frame of this type. */
    public enum Direction { TO_AGENT, TO_HOST }

    private final int code;
    private final Direction direction;
    private final int minPayload;
    private final int maxPayload;

    FrameType(int code, Direction direction, int minPayload, int maxPayload) {
        this.code = code;
        this.direction = direction;
        this.minPayload = minPayload;
        this.maxPayload = maxPayload;
    }

    public int code() {
        return code;
    }

    public Direction direction() {
        return direction;
    }

    public int minPayload() {
        return minPayload;
    }

    public int maxPayload() {
        return maxPayload;
    }

    /** Whether a payload of {@code size} bytes is allowed (the shape inside is checked by reader and writer). */
    public boolean allowsSize(int size) {
        return size >= minPayload && size <= maxPayload;
    }

    /** The size rule as the messages say it: "2" or "1 .. 65536". */
    public String sizeRule() {
        return minPayload == maxPayload ? String.valueOf(minPayload) : minPayload + " .. " + maxPayload;
    }

    /** Whether the agent sends it about a file operation (not a process). */
    public boolean isFileReply() {
        return this == FILE_DATA || this == FILE_ENTRY || this == FILE_DONE;
    }

    /** Whether the agent sends it about a relayed connection (a stream with the top bit set). */
    public boolean isConnectionFrame() {
        return this == CONN_OPEN || this == AGENT_CONN_DATA || this == AGENT_CONN_EOF || this == CONN_CLOSED
                || this == AGENT_CONN_ACK;
    }

    /** The spec's name: {@code stdin_close}, {@code conn_data} (either direction). */
    public String label() {
        return name().toLowerCase(Locale.ROOT).replaceFirst("^agent_", "");
    }

    public static Optional<FrameType> ofCode(int code) {
        for (FrameType type : values()) {
            if (type.code == code) {
                return Optional.of(type);
            }
        }
        return Optional.empty();
    }
}
