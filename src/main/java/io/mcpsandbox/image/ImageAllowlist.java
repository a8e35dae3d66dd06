package io.mcpsandbox.image;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Which image names requests may use, each an image reference ({@code alpine:3.19},
 * {@code ghcr.io/org/tool:1.2}) optionally pinned to a manifest digest ({@code python:3.11-slim@sha256:<hex>}).
 * Entries are normalised like requests ({@link ImageReference}): {@code alpine} allows {@code alpine:latest},
 * {@code docker.io/library/alpine:3.19} allows {@code alpine:3.19}. An unconfigured allowlist allows the
 * built-in images and everything an operator imported into the catalog; a configured one allows exactly its
 * names (list {@code host} too if requests may use the built-in host image).
 */
public final class ImageAllowlist {
    /** Everything in the catalog. */
    public static final ImageAllowlist CATALOG = new ImageAllowlist(null);

    /** catalog name -> pinned digest (empty when not pinned); null when unconfigured. */
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
            ImageReference ref = ImageReference.parse("images.allowed", entry);
            Optional<String> pin = Optional.ofNullable(ref.digest());
            Optional<String> earlier = entries.put(ref.name(), pin);
            if (earlier != null && !earlier.equals(pin)) {
                throw new IllegalArgumentException("images.allowed: '" + ref.name() + "' is listed twice with "
                        + "different pins");
            }
        }
        return new ImageAllowlist(Map.copyOf(entries));
    }

    public boolean configured() {
        return entries != null;
    }

    /**
     * Whether the catalog name ({@link ImageReference#name()}) is allowed (always true when unconfigured: the
     * catalog decides).
     */
    public boolean allows(String name) {
        return entries == null || entries.containsKey(name);
    }

    /** The digest the catalog name is pinned to, if any. */
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
