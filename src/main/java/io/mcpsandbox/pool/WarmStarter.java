package io.mcpsandbox.pool;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;

/**
 * A language whose interpreter a pool starts ahead, with its starter (a resource of this package): the
 * interpreter loads, then waits on its stdin for one byte, the host's go, and runs the snippet's file as a plain
 * start would. The starter travels in the argv.
 */
enum WarmStarter {
    PYTHON("starter.py", "-c"),
    NODE("starter.js", "-e");

    /** The go: sent as the first byte of the program's stdin once its file is in place. */
    static final byte GO = 1;
    /** What the starter writes on stderr once its interpreter has loaded and waits for the go (taken by the pool). */
    static final byte READY = 1;

    private final String resource;
    private final String codeFlag;
    private volatile String code;

    WarmStarter(String resource, String codeFlag) {
        this.resource = resource;
        this.codeFlag = codeFlag;
    }

    /** The starter of a language ("python", "node"), if it has one. */
    static Optional<WarmStarter> of(String language) {
        return switch (language) {
            case "python" -> Optional.of(PYTHON);
            case "node" -> Optional.of(NODE);
            default -> Optional.empty();
        };
    }

    /**
     * The argv that starts {@code command} (a snippet's {@code [interpreter, file]}) ahead: the same interpreter
     * with the starter, the file as its argument. Empty for a command of another shape (flags of the operator's
     * own, say), which a pool cannot start ahead.
     */
    Optional<List<String>> argv(List<String> command) {
        if (command.size() != 2 || command.get(1).startsWith("-")) {
            return Optional.empty();
        }
        return Optional.of(List.of(command.get(0), codeFlag, code(), command.get(1)));
    }

    private String code() {
        String text = code;
        if (text == null) {
            try (InputStream in = WarmStarter.class.getResourceAsStream(resource)) {
                if (in == null) {
                    throw new IllegalStateException("the resource " + resource + " is missing");
                }
                text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            code = text;
        }
        return text;
    }
}
