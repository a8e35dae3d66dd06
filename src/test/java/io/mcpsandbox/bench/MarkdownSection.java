package io.mcpsandbox.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A generated section of a markdown file between two marker lines, rewritten by a benchmark (shared by them). */
final class MarkdownSection {
    private MarkdownSection() {
    }

    /**
     * Replaces what is between {@code begin} and {@code end} (markers included) with {@code text} between the
     * same markers; appends the section when the file has no such markers, and creates the file with
     * {@code newFileHead} above the section when there is no file.
     */
    static void write(Path file, String begin, String end, String text, String newFileHead) throws IOException {
        String generated = begin + "\n" + text + (text.endsWith("\n") ? "" : "\n") + end + "\n";
        String result;
        if (Files.exists(file)) {
            String old = Files.readString(file);
            int b = old.indexOf(begin);
            int e = old.indexOf(end);
            if (b >= 0 && e > b) {
                result = old.substring(0, b) + generated + old.substring(e + end.length()).replaceFirst("^\n", "");
            } else {
                result = old + (old.endsWith("\n") ? "\n" : "\n\n") + generated;
            }
        } else {
            result = newFileHead + generated;
        }
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.writeString(file, result);
    }
}
