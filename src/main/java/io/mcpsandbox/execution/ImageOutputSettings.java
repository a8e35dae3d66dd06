package io.mcpsandbox.execution;

import io.mcpsandbox.config.Settings;
import io.mcpsandbox.session.SessionFileException;
import io.mcpsandbox.session.SessionFiles;
import java.time.Duration;

/**
 * Which image files an execute_code call returns and how much of them (docs/configuration.md, {@code outputs.*}).
 *
 * @param dir           the directory watched (not its subdirectories): /workspace, or a directory below it or
 *                      below /tmp
 * @param maxImageBytes the largest image returned; a larger one is skipped with a note, never cut
 * @param maxTotalBytes the most bytes of images one call returns
 * @param maxImages     the most images one call returns (0: none are collected)
 * @param timeout       how long listing and reading them may take after the program ended, in all
 */
public record ImageOutputSettings(String dir, long maxImageBytes, long maxTotalBytes, int maxImages,
                                  Duration timeout) {
    public ImageOutputSettings {
        try {
            SessionFiles.check("outputs.image-dir", dir, false, true);
        } catch (SessionFileException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
        if (maxImageBytes < 1 || maxTotalBytes < maxImageBytes || maxImages < 0 || timeout.isNegative()
                || timeout.isZero()) {
            throw new IllegalArgumentException("outputs settings out of range: image-max-bytes " + maxImageBytes
                    + " (at least 1), images-max-bytes " + maxTotalBytes + " (at least image-max-bytes), "
                    + "max-images " + maxImages + " (at least 0), image-timeout " + timeout + " (positive)");
        }
    }

    public static ImageOutputSettings from(Settings s) {
        return new ImageOutputSettings(s.string("outputs.image-dir", "/workspace"),
                s.bytes("outputs.image-max-bytes", "2m"), s.bytes("outputs.images-max-bytes", "8m"),
                s.integer("outputs.max-images", "8"), s.duration("outputs.image-timeout", "5s"));
    }
}
