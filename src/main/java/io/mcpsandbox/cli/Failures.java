package io.mcpsandbox.cli;

import io.mcpsandbox.record.ExecutionStoreException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.ReadOnlyFileSystemException;

/**
 * Turns a start-up or configuration failure into one line a person can act on: what failed and what to do.
 * The stack trace follows only with {@code --debug}.
 */
final class Failures {
    /** A failure already worded for the user; {@link #exitCode} is what the command returns. */
    static final class UserError extends RuntimeException {
        final int exitCode;

        UserError(String message, int exitCode) {
            super(message, null, false, false);
            this.exitCode = exitCode;
        }
    }

    private Failures() {
    }

    /** Prints the one line (and with {@code debug} the stack trace) and returns the exit code. */
    static int report(Throwable failure, String command, boolean debug, PrintWriter err) {
        err.println("mcp-sandbox" + (command == null ? "" : " " + command) + ": " + oneLine(describe(failure)));
        if (debug && !(failure instanceof UserError)) {
            failure.printStackTrace(err);
        }
        err.flush();
        return failure instanceof UserError u ? u.exitCode : exitCode(failure);
    }

    /** 2 for configuration (fix the input), 1 for the environment (fix the machine). */
    static int exitCode(Throwable failure) {
        return failure instanceof IllegalArgumentException ? 2 : 1;
    }

    static String describe(Throwable failure) {
        if (failure instanceof UserError) {
            return failure.getMessage();
        }
        Throwable bind = find(failure, BindException.class);
        if (bind != null) {
            return "cannot listen on the --http address: " + message(bind)
                    + "; stop what uses that port or pick another with --http HOST:PORT";
        }
        FileSystemException fs = find(failure, FileSystemException.class);
        if (fs != null) {
            String why = fs instanceof AccessDeniedException ? "permission denied"
                    : fs instanceof NoSuchFileException ? "no such file or directory"
                    : fs.getReason() == null ? fs.getClass().getSimpleName() : fs.getReason();
            return "cannot use " + fs.getFile() + ": " + why + "; run as root (sudo), or set MCP_SANDBOX_DATA_DIR "
                    + "and MCP_SANDBOX_STATE_DIR to directories this user can write";
        }
        if (find(failure, ReadOnlyFileSystemException.class) != null) {
            return "a data directory is on a read-only file system; set MCP_SANDBOX_DATA_DIR to a writable one";
        }
        if (failure instanceof ExecutionStoreException || find(failure, ExecutionStoreException.class) != null) {
            ExecutionStoreException store = find(failure, ExecutionStoreException.class);
            return message(store) + "; check that MCP_SANDBOX_DATA_DIR exists and is writable by this user "
                    + "(run as root, e.g. with sudo)";
        }
        if (failure instanceof IllegalArgumentException || failure instanceof IllegalStateException) {
            return "configuration: " + message(failure)
                    + " (fix the environment variable or the config file; keys: docs/configuration.md)";
        }
        if (failure instanceof UncheckedIOException) {
            return message(failure) + "; check MCP_SANDBOX_DATA_DIR and MCP_SANDBOX_STATE_DIR";
        }
        return failure.getClass().getSimpleName() + ": " + message(failure);
    }

    private static String message(Throwable t) {
        return t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
    }

    private static String oneLine(String s) {
        return s.replaceAll("\\s*[\\r\\n]+\\s*", " ");
    }

    private static <T extends Throwable> T find(Throwable t, Class<T> type) {
        for (int depth = 0; t != null && depth < 20; t = t.getCause(), depth++) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
        }
        return null;
    }
}
