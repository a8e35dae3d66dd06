package io.mcpsandbox.session;

import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.agent.AgentChannel;
import io.mcpsandbox.runtime.agent.AgentFileException;
import io.mcpsandbox.runtime.agent.FileTooLargeException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeoutException;

/**
 * The rules for paths in a session's sandbox, checked on the host before the agent sees them, and the file
 * work an execution needs. The agent itself resolves every path without following a link (docs/agent-protocol.md);
 * the host never touches the sandbox's tree.
 */
public final class SessionFiles {
    /** The longest path accepted, in bytes. */
    public static final int MAX_PATH_BYTES = 4096;
    /** The most entries one listing returns (more: truncated). */
    public static final int MAX_LIST_ENTRIES = 10_000;
    /** Permission bits of a file the host writes. */
    static final int FILE_MODE = 0644;

    private SessionFiles() {
    }

    /**
     * An absolute, normal path below /workspace ({@code writable}), or below /workspace or /tmp (for reading
     * and listing): no empty, "." or ".." component, no NUL, at most {@link #MAX_PATH_BYTES} bytes.
     *
     * @param allowRoot whether /workspace (or /tmp) itself is accepted (a listing)
     */
    public static String check(String field, String path, boolean writable, boolean allowRoot)
            throws SessionFileException {
        if (path == null || path.isEmpty()) {
            throw new SessionFileException(SessionFileException.Kind.INVALID, field + ": is required");
        }
        if (path.getBytes(StandardCharsets.UTF_8).length > MAX_PATH_BYTES) {
            throw new SessionFileException(SessionFileException.Kind.INVALID, field + ": longer than "
                    + MAX_PATH_BYTES + " bytes");
        }
        if (path.indexOf('\0') >= 0) {
            throw new SessionFileException(SessionFileException.Kind.INVALID, field + ": contains a NUL character");
        }
        String shown = path.length() <= 200 ? path : path.substring(0, 200) + "...";
        if (!path.startsWith("/")) {
            throw new SessionFileException(SessionFileException.Kind.INVALID, field + ": '" + shown
                    + "' is not absolute (a path in the sandbox, e.g. /workspace/data.csv)");
        }
        for (String part : path.substring(1).split("/", -1)) {
            if (part.isEmpty() || part.equals(".") || part.equals("..")) {
                throw new SessionFileException(SessionFileException.Kind.INVALID, field + ": '" + shown
                        + "' has an empty, '.' or '..' component");
            }
        }
        boolean inWorkspace = path.equals(SandboxSpec.WORKSPACE) || path.startsWith(SandboxSpec.WORKSPACE + "/");
        boolean inTmp = path.equals(SandboxSpec.TMP) || path.startsWith(SandboxSpec.TMP + "/");
        boolean isRoot = path.equals(SandboxSpec.WORKSPACE) || path.equals(SandboxSpec.TMP);
        if (writable ? !inWorkspace : !inWorkspace && !inTmp) {
            throw new SessionFileException(SessionFileException.Kind.INVALID, field + ": '" + shown + "' is outside "
                    + (writable ? SandboxSpec.WORKSPACE : SandboxSpec.WORKSPACE + " and " + SandboxSpec.TMP));
        }
        if (isRoot && !allowRoot) {
            throw new SessionFileException(SessionFileException.Kind.INVALID, field + ": '" + path
                    + "' is a directory");
        }
        return path;
    }

    /** The agent's refusal as the session's: a missing file is 404, anything else it refused 422. */
    static SessionFileException refusal(IOException e) {
        if (e instanceof FileTooLargeException) {
            return new SessionFileException(SessionFileException.Kind.TOO_LARGE, e.getMessage());
        }
        if (e instanceof AgentFileException f) {
            boolean missing = f.reason().contains("does not exist") || f.reason().contains("No such file");
            return new SessionFileException(missing ? SessionFileException.Kind.MISSING
                    : SessionFileException.Kind.REFUSED, f.getMessage());
        }
        return null;
    }

    /**
     * Writes an execution's files (relative to /workspace, checked by policy) through the agent, making missing
     * parent directories. A snippet's code is one of them.
     */
    public static void write(AgentChannel channel, Map<String, byte[]> files, Duration timeout)
            throws IOException, TimeoutException {
        for (Map.Entry<String, byte[]> file : files.entrySet()) {
            String path = SandboxSpec.WORKSPACE + "/" + file.getKey();
            channel.writeFile(path, FILE_MODE | AgentChannel.MAKE_PARENTS, new ByteArrayInputStream(file.getValue()),
                    file.getValue().length, timeout);
        }
    }
}
