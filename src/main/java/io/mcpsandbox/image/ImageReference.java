package io.mcpsandbox.image;

import java.util.regex.Pattern;

/**
 * A Docker-style image reference, as users write it ({@code python:3.11-slim}, {@code alpine:3.19},
 * {@code ghcr.io/org/tool:1.2}, {@code localhost:5000/x@sha256:<hex>}), in the grammar of the distribution
 * reference spec, normalised the way Docker's "familiar" form is:
 * <ul>
 *   <li>{@code docker.io/} and {@code index.docker.io/} are dropped, and so is {@code library/} on Docker Hub:
 *       {@code docker.io/library/alpine:3.19} is {@code alpine:3.19};</li>
 *   <li>a missing tag is {@code latest}: {@code alpine} is {@code alpine:latest};</li>
 *   <li>a digest is never part of the catalog name ({@link #name()}): it is a check the stored image's
 *       manifest digest must pass;</li>
 *   <li>{@code host} (also {@code host:latest}) is the built-in host image.</li>
 * </ul>
 * Stricter than the spec where that costs nothing: the whole reference is at most 255 characters, the
 * registry host is lower-case too, and only {@code sha256} digests are accepted.
 *
 * @param repository the normalised repository: {@code alpine}, {@code org/tool}, {@code ghcr.io/org/tool}
 * @param tag        the tag ({@code latest} when none was written)
 * @param digest     {@code sha256:<64 hex>}, or null
 */
public record ImageReference(String repository, String tag, String digest) {
    public static final int MAX_LENGTH = 255;
    public static final String DEFAULT_TAG = "latest";
    private static final String DOCKER_HUB = "docker.io";

    private static final Pattern PATH_COMPONENT = Pattern.compile("[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*");
    private static final Pattern DOMAIN = Pattern.compile(
            "(?:(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])(?:\\.(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9]))*"
                    + "|\\[[a-f0-9:]+\\])(?::[0-9]{1,5})?");
    private static final Pattern TAG = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
    private static final Pattern DIGEST = Pattern.compile("sha256:[0-9a-f]{64}");
    private static final String COMPONENT_RULE = "path components are lower-case letters and digits separated by "
            + "'.', '_', '__' or dashes";

    public ImageReference {
        if (repository == null || tag == null) {
            throw new IllegalArgumentException("repository and tag are required");
        }
    }

    /**
     * Parses {@code value}; a refusal names {@code field} and the rule broken.
     *
     * @throws IllegalArgumentException for anything outside the grammar
     */
    public static ImageReference parse(String field, String value) {
        if (value == null || value.isEmpty()) {
            throw bad(field, value, "an image reference is required (e.g. alpine:3.19)");
        }
        if (value.length() > MAX_LENGTH) {
            throw new IllegalArgumentException(field + ": the image reference is " + value.length()
                    + " characters; the limit is " + MAX_LENGTH);
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c <= ' ' || c >= 0x7f) {
                throw bad(field, value, "only printable ASCII characters without spaces are allowed");
            }
        }
        String rest = value;
        String digest = null;
        int at = rest.indexOf('@');
        if (at >= 0) {
            digest = rest.substring(at + 1);
            rest = rest.substring(0, at);
            if (!DIGEST.matcher(digest).matches()) {
                throw bad(field, value, "the digest must be sha256:<64 lower-case hex digits>");
            }
        }
        String tag = null;
        int colon = rest.lastIndexOf(':');
        if (colon > rest.lastIndexOf('/')) {
            tag = rest.substring(colon + 1);
            rest = rest.substring(0, colon);
            if (!TAG.matcher(tag).matches()) {
                throw bad(field, value, "the tag must be 1-128 letters, digits, '_', '.' or '-', not starting "
                        + "with '.' or '-'");
            }
        }
        if (rest.isEmpty()) {
            throw bad(field, value, "the repository name is missing");
        }
        String[] parts = rest.split("/", -1);
        for (String p : parts) {
            if (p.equals(".") || p.equals("..")) {
                throw bad(field, value, "'" + p + "' is not a path component (" + COMPONENT_RULE + ")");
            }
        }
        String domain = null;
        int first = 0;
        if (parts.length > 1 && (parts[0].contains(".") || parts[0].contains(":") || parts[0].equals("localhost"))) {
            domain = parts[0];
            first = 1;
            if (!DOMAIN.matcher(domain).matches()) {
                throw bad(field, value, "the registry '" + domain + "' must be a lower-case host name or [IPv6] "
                        + "address with an optional :port");
            }
        }
        for (int i = first; i < parts.length; i++) {
            String p = parts[i];
            if (PATH_COMPONENT.matcher(p).matches()) {
                continue;
            }
            if (!p.equals(p.toLowerCase(java.util.Locale.ROOT)) && PATH_COMPONENT.matcher(
                    p.toLowerCase(java.util.Locale.ROOT)).matches()) {
                throw bad(field, value, "the repository must be lower-case");
            }
            throw bad(field, value, (p.isEmpty() ? "an empty path component" : "the path component '" + p + "'")
                    + " is not valid: " + COMPONENT_RULE);
        }
        String path = String.join("/", java.util.Arrays.copyOfRange(parts, first, parts.length));
        if (domain == null || domain.equals(DOCKER_HUB) || domain.equals("index.docker.io")) {
            if (path.startsWith("library/") && path.indexOf('/', "library/".length()) < 0) {
                path = path.substring("library/".length());
            }
            domain = null;
        }
        return new ImageReference(domain == null ? path : domain + "/" + path, tag == null ? DEFAULT_TAG : tag, digest);
    }

    private static IllegalArgumentException bad(String field, String value, String rule) {
        return new IllegalArgumentException(field + ": '" + value + "' is not a valid image reference: " + rule);
    }

    /** The catalog name: {@code repository:tag}, or just {@code host} for the built-in image. */
    public String name() {
        return isHost() ? HostImage.NAME : repository + ":" + tag;
    }

    /** Whether this names the built-in host image (with or without a digest, which it cannot satisfy). */
    public boolean isHost() {
        return repository.equals(HostImage.NAME) && tag.equals(DEFAULT_TAG);
    }

    /** The same reference without its digest. */
    public ImageReference withoutDigest() {
        return new ImageReference(repository, tag, null);
    }

    /** Where a registry has it, as skopeo's {@code docker://} transport takes it (a digest wins over the tag). */
    public String registryReference() {
        String full = repository;
        int slash = full.indexOf('/');
        String head = slash < 0 ? "" : full.substring(0, slash);
        if (slash < 0 || !(head.contains(".") || head.contains(":") || head.equals("localhost"))) {
            full = DOCKER_HUB + "/" + (slash < 0 ? "library/" : "") + full;
        }
        return full + (digest != null ? "@" + digest : ":" + tag);
    }

    /** The canonical form: {@link #name()} and the digest, if any. */
    @Override
    public String toString() {
        return digest == null ? name() : name() + "@" + digest;
    }
}
