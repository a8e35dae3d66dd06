package io.mcpsandbox.session;

import io.mcpsandbox.config.LanguageSpec;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;

/**
 * A language whose snippets can run in a session's persistent interpreter, with its driver program (a resource
 * of this package). The driver is ours and travels in the argv; the cells travel over the interpreter's stdin.
 */
public enum KernelLanguage {
    PYTHON("python", "kernel.py") {
        @Override
        List<String> argv(String executable) {
            return List.of(executable, "-u", "-c", driver());
        }
    },
    NODE("node", "kernel.js") {
        @Override
        List<String> argv(String executable) {
            return List.of(executable, "-e", driver());
        }
    };

    private final String label;
    private final String resource;
    private volatile String driver;

    KernelLanguage(String label, String resource) {
        this.label = label;
        this.resource = resource;
    }

    /** The language of a snippet spec ("python", "node" and their aliases), if it has a persistent interpreter. */
    public static Optional<KernelLanguage> of(LanguageSpec spec) {
        return switch (spec.name()) {
            case "python" -> Optional.of(PYTHON);
            case "node" -> Optional.of(NODE);
            default -> Optional.empty();
        };
    }

    /** "python" or "node", for notices. */
    public String label() {
        return label;
    }

    /** The interpreter's argv: {@code executable} (the one an ordinary snippet of the language runs) and the driver. */
    abstract List<String> argv(String executable);

    String driver() {
        String text = driver;
        if (text == null) {
            try (InputStream in = KernelLanguage.class.getResourceAsStream(resource)) {
                if (in == null) {
                    throw new IllegalStateException("the resource " + resource + " is missing");
                }
                text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            driver = text;
        }
        return text;
    }
}
