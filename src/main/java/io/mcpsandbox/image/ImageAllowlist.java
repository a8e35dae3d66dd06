package io.mcpsandbox.image;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Which image names requests may use, each optionally pinned to a manifest digest
 * ({@code name@sha256:<64 hex>}). An unconfigured allowlist allows the built-in images and everything an
 * operator imported into the catalog; a configured one allows exactly its names (list {@code host} too if
 * requests may use the built-in host image).
 */
public final class ImageAllowlist {
    private static final Pattern DIGEST = Pattern.compile("sha256:[0-9a-f]{64}");

    /** Everything in the catalog. */
    public static final ImageAllowlist CATALOG = new ImageAllowlist(null);

    /** name -> pinned digest (empty when not pinned); null when unconfigured. */
    private final Map<String, Optional<String>> entries;

    private ImageAllowlist(Map<String, Optional<String>> entries) {
        this.entries = entries;
    }

    /**
     * Parses a comma- or whitespace-separated list; null or blank means unconfigured.
     *
     * @throws IllegalArgumentException for a malformed entry (a bad name or digest)
     */
    public static ImageAllowlist parse(String spec) {
        if (spec == null || spec.isBlank()) {
            return CATALOG;
        }
        Map<String, Optional<String>> entries = new LinkedHashMap<>();
        for (String entry : spec.trim().split("[,\\s]+")) {
            if (entry.isEmpty()) {
                continue;
            }
            int at = entry.indexOf('@');
            String name = at < 0 ? entry : entry.substring(0, at);
            String pin = at < 0 ? null : entry.substring(at + 1);
            ImageNames.check(name);
            if (pin != null && !DIGEST.matcher(pin).matches()) {
                throw new IllegalArgumentException("images.allowed: '" + entry
                        + "' pins a malformed digest (expected name@sha256:<64 lower-case hex digits>)");
            }
            entries.put(name, Optional.ofNullable(pin));
        }
        return new ImageAllowlist(Map.copyOf(entries));
    }

    public boolean configured() {
        return entries != null;
    }

    /** Whether the name is allowed (always true when unconfigured: the catalog decides). */
    public boolean allows(String name) {
        return entries == null || entries.containsKey(name);
    }

    /** The digest the name is pinned to, if any. */
    public Optional<String> pin(String name) {
        return entries == null ? Optional.empty() : entries.getOrDefault(name, Optional.empty());
    }

    public List<String> names() {
        return entries == null ? List.of() : new ArrayList<>(entries.keySet()).stream().sorted().toList();
    }

    @Override
    public String toString() {
        if (entries == null) {
            return "(unconfigured: built-in and imported images)";
        }
        List<String> parts = new ArrayList<>();
        entries.forEach((n, p) -> parts.add(p.map(d -> n + "@" + d).orElse(n)));
        return String.join(",", parts.stream().sorted().toList());
    }
}
