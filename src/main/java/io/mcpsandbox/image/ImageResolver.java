package io.mcpsandbox.image;

import io.mcpsandbox.model.RootFilesystem;
import java.io.IOException;
import java.util.List;

/** Turns an image name into a root filesystem. Today the catalog holds the built-in {@code host} image. */
public final class ImageResolver {
    private final HostImage hostImage;
    private volatile RootFilesystem host;

    public ImageResolver(HostImage hostImage) {
        this.hostImage = hostImage;
    }

    /** Thrown for a name the catalog does not hold; the message lists what it does hold. */
    public static final class UnknownImageException extends Exception {
        public UnknownImageException(String message) {
            super(message);
        }
    }

    public List<String> names() {
        return List.of(HostImage.NAME);
    }

    public RootFilesystem resolve(String name) throws UnknownImageException, IOException {
        if (!HostImage.NAME.equals(name)) {
            throw new UnknownImageException("image '" + name + "' is not in the catalog (available: "
                    + String.join(", ", names()) + ")");
        }
        RootFilesystem cached = host;
        if (cached == null) {
            synchronized (this) {
                if (host == null) {
                    host = hostImage.materialize();
                }
                cached = host;
            }
        }
        return cached;
    }
}
