package io.mcpsandbox.record;

/** The execution store could not do what was asked: a record could not be written or read. */
public class ExecutionStoreException extends RuntimeException {
    public ExecutionStoreException(String message, Throwable cause) {
        super(message, cause);
    }

    public ExecutionStoreException(String message) {
        super(message);
    }
}
