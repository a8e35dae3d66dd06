package io.mcpsandbox.runtime.agent;

import java.io.IOException;

/** The content of a file write is larger than the caller allowed; the write was aborted, the old file kept. */
public class FileTooLargeException extends IOException {
    public FileTooLargeException(String path, long maxBytes) {
        super("the content for " + ChannelState.printable(path) + " is larger than " + maxBytes + " bytes");
    }
}
