package io.mcpsandbox.image;

/**
 * One image of the catalog, as {@code images list} shows it.
 *
 * @param name     the name requests use ({@code host}, or what the operator imported it as)
 * @param kind     {@code builtin} or {@code oci}
 * @param digest   the OCI manifest digest ({@code sha256:...}) an allowlist entry may pin; for the built-in
 *                 host image a content hash of its generated skeleton ({@code host:...}), which cannot be pinned
 * @param sizeBytes the compressed size of its layers (0 for the built-in image)
 * @param unpacked whether its root filesystem is unpacked and ready
 */
public record CatalogImage(String name, String kind, String digest, long sizeBytes, boolean unpacked) {
    public static final String BUILTIN = "builtin";
    public static final String OCI = "oci";
}
