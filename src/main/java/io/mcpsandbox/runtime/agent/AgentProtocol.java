package io.mcpsandbox.runtime.agent;

/** The numbers of docs/agent-protocol.md (version 3) that both directions of the codec check. */
public final class AgentProtocol {
    public static final int VERSION = 3;
    /** The largest payload of any frame. */
    public static final int MAX_PAYLOAD = 65536;
    /** The length field counts type (1) + stream (4) + payload. */
    public static final int MIN_LENGTH = 5;
    public static final int MAX_LENGTH = MIN_LENGTH + MAX_PAYLOAD;
    /** Processes pending or running at once: the agent's own limit, kept by the host too. */
    public static final int MAX_PROCESSES = 64;
    public static final int MAX_ARGS = 4096;
    public static final int MAX_ENV = 4096;
    public static final int MAX_SIGNAL = 64;
    public static final int MAX_ERROR_TEXT = 1024;
    public static final int MAX_AGENT_NAME = 64;
    /** The longest path a file operation names, in UTF-8 bytes (without its NUL). */
    public static final int MAX_PATH = 4096;
    /** The longest name of a directory entry, in bytes. */
    public static final int MAX_NAME = 255;
    /** File writes open at once (until their file_done): the agent's own limit, kept by the host too. */
    public static final int MAX_OPEN_WRITES = 8;
    /** The permission bits a written file may get. */
    public static final int MAX_MODE = 0777;
    /** A {@code file_write} mode flag: the agent makes missing parent directories (0755), never through a link. */
    public static final int MAKE_PARENTS = 0x10000;
    /** A file_entry's fixed part: u8 kind, u64 size, i64 mtime. */
    public static final int ENTRY_HEADER = 17;
    /** Set in every connection id (process and file ids never have it). */
    public static final int CONNECTION_BIT = 0x80000000;
    /** The first connection id the agent opens: each later one is greater. */
    public static final int FIRST_CONNECTION = 0x80000001;
    /** Relayed connections open at once: the agent's own limit (it stops accepting), checked by the host. */
    public static final int MAX_CONNECTIONS = 64;

    private AgentProtocol() {
    }
}
