package io.mcpsandbox.image;

/** A catalog operation (import, pull, remove, unpack) failed; the message says what and why. */
public class ImageCatalogException extends Exception {
    public ImageCatalogException(String message) {
        super(message);
    }

    public ImageCatalogException(String message, Throwable cause) {
        super(message, cause);
    }
}
