package io.mcpsandbox.model;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/** Whether a runtime can run sandboxes on this host, and if not, why. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record RuntimeInfo(String name, boolean usable, String version, String reason, List<SecurityLevel> levels) {
    public static RuntimeInfo usable(String name, String version, List<SecurityLevel> levels) {
        return new RuntimeInfo(name, true, version, null, levels);
    }

    public static RuntimeInfo unusable(String name, String version, String reason, List<SecurityLevel> levels) {
        return new RuntimeInfo(name, false, version, reason, levels);
    }
}
