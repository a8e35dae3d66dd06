package io.mcpsandbox.runtime;

/** The runtime could not build, start or tear down a sandbox. The message says what failed. */
public class SandboxException extends Exception {
    public SandboxException(String message) {
        super(message);
    }

    public SandboxException(String message, Throwable cause) {
        super(message, cause);
    }
}
