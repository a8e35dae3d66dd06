package io.mcpsandbox.image;

import java.util.regex.Pattern;

/** The names the catalog accepts: short, lower-case, safe as a file name and as an OCI layout tag. */
final class ImageNames {
    private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");

    private ImageNames() {
    }

    static String check(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("image name '" + name + "' is not valid: use 1-64 characters "
                    + "a-z, 0-9, '.', '_', '-', starting with a letter or digit");
        }
        return name;
    }

    /** A default catalog name for a registry reference: the last path part, tag and digest removed. */
    static String fromReference(String ref) {
        String r = ref;
        int at = r.indexOf('@');
        if (at >= 0) {
            r = r.substring(0, at);
        }
        String last = r.substring(r.lastIndexOf('/') + 1);
        int colon = last.indexOf(':');
        String base = colon >= 0 ? last.substring(0, colon) : last;
        String tag = colon >= 0 ? last.substring(colon + 1) : "";
        String name = (tag.isEmpty() || tag.equals("latest") ? base : base + "-" + tag).toLowerCase(java.util.Locale.ROOT)
                .replaceAll("[^a-z0-9._-]", "-");
        return name;
    }
}
