package io.mcpsandbox.pool;

import java.util.Optional;

/**
 * Which sandboxes one pool holds: a runtime, an image and, for snippets, a language whose interpreter is started
 * ahead and waits for the code. Written {@code runtime:image[:language]} in {@code pool.sandboxes}.
 *
 * @param language null for sandboxes whose agent alone waits (for any command, or a session)
 */
public record PoolKey(String runtime, String image, String language) {
    private static final String NAME = "[a-z0-9][a-z0-9._-]{0,62}";

    public PoolKey {
        if (runtime == null || !runtime.matches(NAME) || image == null || image.isBlank()
                || (language != null && !language.matches(NAME))) {
            throw new IllegalArgumentException("expected runtime:image[:language]; got " + runtime + ":" + image
                    + (language == null ? "" : ":" + language));
        }
    }

    /** Parses {@code runtime:image[:language]}; an image reference with a tag is written {@code runc:alpine@3.19}. */
    static PoolKey parse(String text) {
        String[] parts = text.trim().split(":", -1);
        if (parts.length < 2 || parts.length > 3) {
            throw new IllegalArgumentException("expected runtime:image[:language]; got '" + text + "'");
        }
        return new PoolKey(parts[0], parts[1].replace('@', ':'), parts.length == 3 ? parts[2] : null);
    }

    public Optional<String> languageName() {
        return Optional.ofNullable(language);
    }

    @Override
    public String toString() {
        return runtime + ":" + image.replace(':', '@') + (language == null ? "" : ":" + language);
    }
}
