package io.mcpsandbox.config;

/**
 * Image settings: the allowlist ({@code images.allowed}; the environment variable
 * {@code MCP_SANDBOX_ALLOWED_IMAGES} wins, as does {@code MCP_SANDBOX_IMAGES_ALLOWED}), a comma-separated list
 * of names, each optionally pinned as {@code name@sha256:<hex>}. Null when unset: then the built-in images
 * and everything an operator imported are allowed.
 */
public record ImageSettings(String allowed) {
    public static final String KEY_ALLOWED = "images.allowed";
    public static final String ENV_ALLOWED = "MCP_SANDBOX_ALLOWED_IMAGES";

    public static ImageSettings from(Settings settings) {
        String value = settings.env().get(ENV_ALLOWED);
        if (value == null) {
            value = settings.string(KEY_ALLOWED, null);
        }
        return new ImageSettings(value == null || value.isBlank() ? null : value.trim());
    }
}
