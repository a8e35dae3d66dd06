package io.mcpsandbox.session;

/** A persistent call while the same interpreter still runs another: calls run one at a time, the second is refused. */
public final class InterpreterBusyException extends Exception {
    public InterpreterBusyException(String message) {
        super(message);
    }
}
