package io.mcpsandbox.network;

import java.util.regex.Pattern;

/**
 * A header the policy point adds to plain-HTTP requests going to one host (an API token the sandbox never sees).
 * The value is never logged: {@link #toString} leaves it out.
 */
public record SecretHeader(String name, String value) {
    private static final Pattern TOKEN = Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}");
    /** Visible ASCII and spaces/tabs inside, nothing that could end the header line. */
    private static final Pattern VALUE = Pattern.compile("[\\x21-\\x7e]([\\x20-\\x7e\\t]{0,8190}[\\x21-\\x7e])?");

    public SecretHeader {
        if (!TOKEN.matcher(name).matches()) {
            throw new IllegalArgumentException("bad secret header name '" + name + "'");
        }
        if (!VALUE.matcher(value).matches()) {
            throw new IllegalArgumentException("bad value for secret header '" + name + "' (value not shown)");
        }
    }

    /** Parses {@code Header-Name: value}. */
    public static SecretHeader parse(String text) {
        int colon = text.indexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("expected 'Header-Name: value' (value not shown)");
        }
        return new SecretHeader(text.substring(0, colon).trim(), text.substring(colon + 1).trim());
    }

    @Override
    public String toString() {
        return "SecretHeader[" + name + ": (hidden)]";
    }
}
