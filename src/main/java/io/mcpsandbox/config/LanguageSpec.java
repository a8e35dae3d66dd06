package io.mcpsandbox.config;

import java.util.List;

/**
 * How a snippet in one language runs: its code is written to {@code /workspace/<fileName>} and
 * {@code command} is run, with {@code {file}} replaced by that path.
 */
public record LanguageSpec(String name, String image, String fileName, List<String> command) {
    public static final String FILE_PLACEHOLDER = "{file}";

    public LanguageSpec {
        command = List.copyOf(command);
    }

    public List<String> commandFor(String path) {
        return command.stream().map(arg -> arg.replace(FILE_PLACEHOLDER, path)).toList();
    }
}
