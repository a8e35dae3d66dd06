package io.mcpsandbox.model;

public record NetworkIO(long bytesReceived, long bytesSent) {
    public static final NetworkIO NONE = new NetworkIO(0, 0);
}
