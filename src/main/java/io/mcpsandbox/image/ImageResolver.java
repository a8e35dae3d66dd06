package io.mcpsandbox.image;

import io.mcpsandbox.model.RootFilesystem;
import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * Turns an image reference into a root filesystem: the reference is normalised to its catalog name
 * ({@link ImageReference}), then the allowlist (a name outside it, or whose digest differs from its pin, is
 * refused), then the catalog (the built-in {@code host} image, or an OCI image unpacked by digest). A digest
 * written in the reference must equal the stored image's too.
 */
public final class ImageResolver {
    private final ImageCatalog catalog;
    private final ImageAllowlist allowlist;

    public ImageResolver(ImageCatalog catalog, ImageAllowlist allowlist) {
        this.catalog = catalog;
        this.allowlist = allowlist;
    }

    /** The catalog next to the host image's directory, with no allowlist configured. */
    public ImageResolver(HostImage hostImage) {
        this(new ImageCatalog(hostImage.imagesDir(), hostImage), ImageAllowlist.CATALOG);
    }

    /**
     * Thrown for a name requests may not use: not in the catalog, outside the allowlist, or not matching its
     * pinned digest. The message says which, and what is available. The execution layer answers
     * {@code rejected} with it.
     */
    public static final class UnknownImageException extends Exception {
        public UnknownImageException(String message) {
            super(message);
        }
    }

    public ImageCatalog catalog() {
        return catalog;
    }

    public ImageAllowlist allowlist() {
        return allowlist;
    }

    /** The names a request may use here: the catalog's, filtered by the allowlist. */
    public List<String> names() {
        try {
            return catalog.names().stream().filter(allowlist::allows).toList();
        } catch (IOException e) {
            return List.of(HostImage.NAME);
        }
    }

    /**
     * A resolved image and its manifest digest; the digest is empty for the built-in {@code host} image, which
     * has none (and is not scanned for vulnerabilities: its files are the host's own).
     */
    public record Resolved(RootFilesystem rootfs, Optional<String> digest) {
    }

    public RootFilesystem resolve(String name) throws UnknownImageException, IOException {
        return resolveImage(name).rootfs();
    }

    public Resolved resolveImage(String reference) throws UnknownImageException, IOException {
        ImageReference ref;
        try {
            ref = ImageReference.parse("image", reference);
        } catch (IllegalArgumentException e) {
            throw new UnknownImageException(e.getMessage());
        }
        String name = ref.name();
        if (!allowlist.allows(name)) {
            throw new UnknownImageException("image '" + name + "' is not allowed here (allowed: "
                    + String.join(", ", allowlist.names()) + ")");
        }
        Optional<String> pin = allowlist.pin(name);
        if (ref.isHost()) {
            if (pin.isPresent() || ref.digest() != null) {
                throw new UnknownImageException("image 'host' is built from this host's files and has no "
                        + "manifest digest: " + (ref.digest() != null ? "name it without one"
                        : "the allowlist must name it without a pin"));
            }
            return new Resolved(catalog.host(), Optional.empty());
        }
        Optional<String> digest = catalog.digest(name);
        if (digest.isEmpty()) {
            throw new UnknownImageException("image '" + name + "' is not in the catalog (available: "
                    + String.join(", ", names()) + ")");
        }
        if (pin.isPresent() && !pin.get().equals(digest.get())) {
            throw new UnknownImageException("image '" + name + "' has digest " + digest.get()
                    + " but the allowlist pins it to " + pin.get());
        }
        if (ref.digest() != null && !ref.digest().equals(digest.get())) {
            throw new UnknownImageException("image '" + name + "' has digest " + digest.get()
                    + ", not " + ref.digest() + " as the request requires");
        }
        try {
            return new Resolved(catalog.rootfs(name, digest.get()), digest);
        } catch (ImageCatalogException e) {
            throw new IOException(e.getMessage(), e);
        }
    }
}
