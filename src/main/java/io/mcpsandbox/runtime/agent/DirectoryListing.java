package io.mcpsandbox.runtime.agent;

import java.util.List;

/**
 * A directory's entries in the agent's order (not sorted), without "." and "..".
 *
 * @param truncated the directory holds more entries than the host asked for
 */
public record DirectoryListing(List<FileEntry> entries, boolean truncated) {
    public DirectoryListing {
        entries = List.copyOf(entries);
    }
}
