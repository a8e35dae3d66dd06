package io.mcpsandbox.callback;

/**
 * A callback URL that will not be called: at submission (the API answers 400 naming {@code callbackUrl}) or at
 * delivery (a permanent failure, not retried). The message names the problem and shows at most the URL's host.
 */
public final class CallbackRefused extends Exception {
    public CallbackRefused(String message) {
        super(message);
    }
}
