package io.mcpsandbox.api.mcp;

import io.mcpsandbox.execution.ImageSniffer;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.OutputImage;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import tools.jackson.databind.JsonNode;

/**
 * The images a snippet wrote in a session on another cluster node, as that node's result event carries them
 * ({@code images}: path, MIME type and base64 data; {@code imageNotes}), read strictly: they are a sandbox's
 * files. The owner applied its own caps; here the count and note lengths are bounded again, the type is sniffed
 * from the bytes again and must match, and anything malformed fails the whole answer.
 */
final class ForwardedImages {
    /** Far above {@code outputs.max-images} (default 8): a bound, not a setting. */
    static final int MAX_IMAGES = 64;
    private static final int MAX_PATH = 4096;
    private static final int MAX_NOTE = 1000;

    private ForwardedImages() {
    }

    /** {@code result} with the images and notes of {@code event}; the same result when the event has none. */
    static ExecutionResult attach(ExecutionResult result, JsonNode event) throws SessionForwarder.Failed {
        JsonNode images = event.path("images");
        JsonNode notes = event.path("imageNotes");
        if (images.isMissingNode() && notes.isMissingNode()) {
            return result;
        }
        return result.withImages(images(images), notes(notes));
    }

    private static List<OutputImage> images(JsonNode images) throws SessionForwarder.Failed {
        if (images.isMissingNode()) {
            return List.of();
        }
        if (!images.isArray() || images.size() > MAX_IMAGES) {
            throw new SessionForwarder.Failed("its images are not a list of at most " + MAX_IMAGES);
        }
        List<OutputImage> out = new ArrayList<>(images.size());
        for (JsonNode i : images) {
            JsonNode path = i.path("path");
            JsonNode type = i.path("mimeType");
            JsonNode data = i.path("data");
            if (!i.isObject() || i.size() != 3 || !path.isString() || !type.isString() || !data.isString()
                    || path.asString().length() > MAX_PATH || !path.asString().startsWith("/")
                    || path.asString().chars().anyMatch(Character::isISOControl)) {
                throw new SessionForwarder.Failed("an image of its answer is not well formed");
            }
            byte[] bytes;
            try {
                bytes = Base64.getDecoder().decode(data.asString());
            } catch (IllegalArgumentException e) {
                throw new SessionForwarder.Failed("an image of its answer is not base64");
            }
            Optional<String> sniffed = ImageSniffer.mimeType(bytes);
            if (sniffed.isEmpty() || !sniffed.get().equals(type.asString())) {
                throw new SessionForwarder.Failed("an image of its answer is not the " + type.asString()
                        .replaceAll("[^A-Za-z0-9/+.-]", "?") + " it claims");
            }
            out.add(new OutputImage(path.asString(), sniffed.get(), bytes.length, bytes));
        }
        return out;
    }

    private static List<String> notes(JsonNode notes) throws SessionForwarder.Failed {
        if (notes.isMissingNode()) {
            return List.of();
        }
        if (!notes.isArray() || notes.size() > MAX_IMAGES) {
            throw new SessionForwarder.Failed("its image notes are not a list of at most " + MAX_IMAGES);
        }
        List<String> out = new ArrayList<>(notes.size());
        for (JsonNode n : notes) {
            if (!n.isString()) {
                throw new SessionForwarder.Failed("an image note of its answer is not text");
            }
            String text = n.asString();
            out.add(text.length() > MAX_NOTE ? text.substring(0, MAX_NOTE) + "..." : text);
        }
        return out;
    }
}
