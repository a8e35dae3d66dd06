package io.mcpsandbox.config;

/**
 * Image settings.
 *
 * @param allowed        the allowlist ({@code images.allowed}; the environment variable
 *                       {@code MCP_SANDBOX_ALLOWED_IMAGES} wins, as does {@code MCP_SANDBOX_IMAGES_ALLOWED}), a
 *                       comma-separated list of names, each optionally pinned as {@code name@sha256:<hex>}. Null
 *                       when unset: then the built-in images and everything an operator imported are allowed.
 * @param refuseCritical {@code images.refuse-critical}: a catalog image with a CRITICAL vulnerability, or one
 *                       that could not be scanned, is refused
 * @param trivy          {@code images.trivy}: the trivy binary; null to look for {@code trivy} on the host PATH
 */
public record ImageSettings(String allowed, boolean refuseCritical, String trivy) {
    public static final String KEY_ALLOWED = "images.allowed";
    public static final String ENV_ALLOWED = "MCP_SANDBOX_ALLOWED_IMAGES";
    public static final String KEY_REFUSE_CRITICAL = "images.refuse-critical";
    public static final String KEY_TRIVY = "images.trivy";

    public static ImageSettings from(Settings settings) {
        String value = settings.env().get(ENV_ALLOWED);
        if (value == null) {
            value = settings.string(KEY_ALLOWED, null);
        }
        String trivy = settings.string(KEY_TRIVY, "").trim();
        return new ImageSettings(value == null || value.isBlank() ? null : value.trim(),
                settings.bool(KEY_REFUSE_CRITICAL, "false"), trivy.isEmpty() ? null : trivy);
    }
}
