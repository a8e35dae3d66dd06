package io.mcpsandbox.execution;

import io.mcpsandbox.logging.LogText;
import io.mcpsandbox.model.OutputImage;
import io.mcpsandbox.runtime.agent.AgentChannel;
import io.mcpsandbox.runtime.agent.AgentFileException;
import io.mcpsandbox.runtime.agent.DirectoryListing;
import io.mcpsandbox.runtime.agent.FileEntry;
import io.mcpsandbox.session.SessionFiles;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The image files a program wrote: {@link #snapshot} the watched directory before it starts, {@link #collect}
 * after it ended. Everything goes through the sandbox's agent, which never follows a link; what it reports
 * (names, kinds, sizes) is the sandbox's claim, so every limit is enforced on the bytes actually read.
 *
 * <p>Only the directory itself is watched (not its subdirectories), and only regular files named like an image
 * (.png, .jpg, .jpeg, .gif, .svg) are read; the first bytes decide whether one is an image. A file counts as
 * written when it is new or its size or modification time (seconds) changed.
 */
public final class ImageOutputs {
    private static final Logger log = LoggerFactory.getLogger(ImageOutputs.class);
    /** The most entries listed; a fuller directory is not looked at (its listing would be a partial view). */
    static final int MAX_ENTRIES = SessionFiles.MAX_LIST_ENTRIES;

    private final ImageOutputSettings settings;

    public ImageOutputs(ImageOutputSettings settings) {
        this.settings = settings;
    }

    /** The watched directory before the program: each regular file's size and time, by name. */
    public record Snapshot(String dir, Map<String, Stamp> files, String unusable) {
        public Snapshot {
            files = Map.copyOf(files);
        }
    }

    /** A file's size and modification time as the agent listed it. */
    public record Stamp(long size, long mtimeSeconds) {
    }

    /**
     * What a call returns.
     *
     * @param skipped   one line per image file not returned, saying why (too large, over the count, not an
     *                  image, a link...), for the call's text; at most {@link #MAX_NOTES} and a summary line
     * @param filesRead how many files were read (at most {@link #MAX_READS})
     */
    public record Collected(List<OutputImage> images, List<String> skipped, int filesRead) {
        public static final Collected NONE = new Collected(List.of(), List.of(), 0);

        public Collected {
            images = List.copyOf(images);
            skipped = List.copyOf(skipped);
        }
    }

    /** The most files read per call, images or not (a program may plant thousands of fake .png files). */
    static final int MAX_READS = 64;
    /** The most skip notes kept (a program may plant thousands of hostile names). */
    static final int MAX_NOTES = 20;

    /**
     * Lists the watched directory before the program starts. A missing directory is an empty one; a directory
     * too full to list whole, or one the agent cannot list, makes the snapshot unusable (nothing is collected).
     */
    public Snapshot snapshot(AgentChannel channel) {
        if (settings.maxImages() == 0) {
            return new Snapshot(settings.dir(), Map.of(), "image outputs are off (outputs.max-images 0)");
        }
        long deadline = System.nanoTime() + settings.timeout().toNanos();
        try {
            Optional<DirectoryListing> listing = list(channel, deadline);
            if (listing.isEmpty()) {
                return new Snapshot(settings.dir(), Map.of(), null);
            }
            if (listing.get().truncated()) {
                return new Snapshot(settings.dir(), Map.of(), settings.dir() + " holds more than " + MAX_ENTRIES
                        + " entries: image files are not collected");
            }
            Map<String, Stamp> files = new HashMap<>();
            for (FileEntry e : listing.get().entries()) {
                files.put(e.name(), new Stamp(e.size(), e.mtimeSeconds()));
            }
            return new Snapshot(settings.dir(), files, null);
        } catch (IOException | TimeoutException e) {
            log.debug("no image snapshot of {}: {}", settings.dir(), e.toString());
            return new Snapshot(settings.dir(), Map.of(), "the directory " + settings.dir()
                    + " could not be listed before the program: " + e.getMessage());
        }
    }

    /** The image files new or changed since {@code before}, within the caps and the time allowed. */
    public Collected collect(AgentChannel channel, Snapshot before) {
        if (before.unusable() != null) {
            return settings.maxImages() == 0 ? Collected.NONE
                    : new Collected(List.of(), List.of(before.unusable()), 0);
        }
        long deadline = System.nanoTime() + settings.timeout().toNanos();
        List<String> notes = new ArrayList<>();
        List<OutputImage> images = new ArrayList<>();
        List<FileEntry> candidates;
        try {
            Optional<DirectoryListing> listing = list(channel, deadline);
            if (listing.isEmpty()) {
                return Collected.NONE;
            }
            if (listing.get().truncated()) {
                return new Collected(List.of(), List.of(settings.dir() + " holds more than " + MAX_ENTRIES
                        + " entries: image files are not collected"), 0);
            }
            candidates = listing.get().entries().stream()
                    .filter(e -> ImageSniffer.hasImageName(e.name()))
                    .filter(e -> !new Stamp(e.size(), e.mtimeSeconds()).equals(before.files().get(e.name())))
                    .sorted(Comparator.comparing(FileEntry::name)).toList();
        } catch (IOException | TimeoutException e) {
            return new Collected(List.of(), List.of("the directory " + settings.dir()
                    + " could not be listed after the program: " + e.getMessage()), 0);
        }
        long total = 0;
        int reads = 0;
        int more = 0;
        for (FileEntry entry : candidates) {
            String path = settings.dir() + "/" + entry.name();
            String skipped = reasonToSkip(entry, images.size(), total);
            if (skipped == null && System.nanoTime() - deadline > 0) {
                skipped = "not read: collecting images took longer than " + settings.timeout().toMillis() + " ms";
            }
            if (skipped == null && reads >= MAX_READS) {
                skipped = "not read: " + MAX_READS + " files were read already (the most per call)";
            }
            if (skipped == null) {
                reads++;
                long cap = Math.min(settings.maxImageBytes(), settings.maxTotalBytes() - total);
                ByteArrayOutputStream sink = new ByteArrayOutputStream();
                try {
                    Duration left = Duration.ofNanos(Math.max(1, deadline - System.nanoTime()));
                    if (channel.readFile(path, cap, sink, left)) {
                        skipped = "larger than " + cap + " bytes when read (" + capName(cap) + "): skipped";
                    } else {
                        byte[] bytes = sink.toByteArray();
                        Optional<String> type = ImageSniffer.mimeType(bytes);
                        if (type.isEmpty()) {
                            skipped = "not a PNG, JPEG, GIF or SVG image (by its content): skipped";
                        } else {
                            images.add(new OutputImage(path, type.get(), bytes.length, bytes));
                            total += bytes.length;
                        }
                    }
                } catch (AgentFileException e) {
                    skipped = "not read: " + e.reason();
                } catch (IOException | TimeoutException e) {
                    skipped = "not read: " + e.getMessage();
                }
            }
            if (skipped != null) {
                if (notes.size() < MAX_NOTES) {
                    notes.add(LogText.escape(path) + ": " + skipped);
                } else {
                    more++;
                }
            }
        }
        if (more > 0) {
            notes.add("... and " + more + " more image files skipped");
        }
        return new Collected(images, notes, reads);
    }

    /** Why an entry is not read at all, from the listing alone (null: read it). */
    private String reasonToSkip(FileEntry entry, int taken, long total) {
        if (!entry.exactName()) {
            return "its name is not UTF-8: skipped";
        }
        if (entry.kind() != FileEntry.Kind.FILE) {
            return "not a regular file (" + entry.kind().name().toLowerCase(Locale.ROOT)
                    + "; links are never followed): skipped";
        }
        if (taken >= settings.maxImages()) {
            return "skipped: already " + taken + " images (outputs.max-images)";
        }
        if (entry.size() > settings.maxImageBytes()) {
            return entry.size() + " bytes, more than " + settings.maxImageBytes()
                    + " (outputs.image-max-bytes): skipped";
        }
        if (entry.size() > settings.maxTotalBytes() - total) {
            return entry.size() + " bytes, more than the " + (settings.maxTotalBytes() - total)
                    + " left of " + settings.maxTotalBytes() + " (outputs.images-max-bytes): skipped";
        }
        return null;
    }

    private String capName(long cap) {
        return cap == settings.maxImageBytes() ? "outputs.image-max-bytes" : "outputs.images-max-bytes";
    }

    /** The directory's entries, or empty when it does not exist. */
    private Optional<DirectoryListing> list(AgentChannel channel, long deadline) throws IOException,
            TimeoutException {
        Duration left = Duration.ofNanos(Math.max(1, deadline - System.nanoTime()));
        try {
            return Optional.of(channel.listDirectory(settings.dir(), MAX_ENTRIES, left));
        } catch (AgentFileException e) {
            if (e.reason().contains("does not exist") || e.reason().contains("No such file")) {
                return Optional.empty();
            }
            throw e;
        }
    }
}
