package io.mcpsandbox.config;

import io.mcpsandbox.model.SecurityLevel;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Which runtimes and levels requests may use. Without these an API user picks any runtime by name, the weakest
 * included.
 *
 * @param allowed      {@code runtimes.allowed}: runtime names separated by commas or spaces; null when unset
 *                     (every runtime). Names are checked against the runtimes of this build at start.
 * @param minimumLevel {@code security.minimum-level}: a request asking for less is refused, one asking for
 *                     nothing gets at least this, and an explicit runtime must provide it
 */
public record RuntimeSettings(Set<String> allowed, SecurityLevel minimumLevel) {
    public static final String KEY_ALLOWED = "runtimes.allowed";
    public static final String KEY_MINIMUM_LEVEL = "security.minimum-level";
    /** Today's behaviour: every runtime, every level. */
    public static final RuntimeSettings DEFAULT = new RuntimeSettings(null, SecurityLevel.LOW);

    private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");

    public RuntimeSettings {
        allowed = allowed == null ? null : java.util.Collections.unmodifiableSet(new LinkedHashSet<>(allowed));
    }

    public static RuntimeSettings from(Settings settings) {
        String list = settings.string(KEY_ALLOWED, "").strip();
        Set<String> allowed = null;
        if (!list.isEmpty()) {
            allowed = new LinkedHashSet<>();
            for (String name : Arrays.stream(list.split("[,\\s]+")).filter(n -> !n.isEmpty()).toList()) {
                if (!NAME.matcher(name).matches()) {
                    throw new IllegalArgumentException(KEY_ALLOWED + ": '" + name + "' is not a runtime name "
                            + "(e.g. runc, runsc, docker, docker-runsc)");
                }
                allowed.add(name);
            }
        }
        String level = settings.string(KEY_MINIMUM_LEVEL, SecurityLevel.LOW.wireName());
        SecurityLevel minimum;
        try {
            minimum = SecurityLevel.parse(level);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(KEY_MINIMUM_LEVEL + ": expected low, medium, high or critical; got '"
                    + level + "'");
        }
        return new RuntimeSettings(allowed, minimum);
    }

    public boolean allows(String runtime) {
        return allowed == null || allowed.contains(runtime);
    }

    /** Why a runtime that provides {@code strongest} at most cannot be used under these settings, if it cannot. */
    public Optional<String> exclusion(String runtime, SecurityLevel strongest) {
        if (!allows(runtime)) {
            return Optional.of("not in " + KEY_ALLOWED + " (" + String.join(", ", allowed) + ")");
        }
        if (strongest.compareTo(minimumLevel) < 0) {
            return Optional.of("provides at most '" + strongest.wireName() + "', below " + KEY_MINIMUM_LEVEL + " = "
                    + minimumLevel.wireName());
        }
        return Optional.empty();
    }
}
