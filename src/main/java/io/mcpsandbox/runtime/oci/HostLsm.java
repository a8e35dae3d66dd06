package io.mcpsandbox.runtime.oci;

import io.mcpsandbox.host.HostCommand;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * The Linux security module this host enforces, detected at start: an AppArmor profile is loaded and named
 * in every bundle where AppArmor is enabled; an SELinux label is set where SELinux enforces. Where neither
 * is enforced, bundles name neither (a label the kernel cannot apply would make every start fail).
 */
public record HostLsm(boolean appArmor, String appArmorProfile, boolean selinuxEnforcing, String selinuxLabel,
                      String status) {
    public static final String PROFILE_NAME = "mcp-sandbox-default";
    static final String PROFILE_RESOURCE = "apparmor-profile";
    static final String CONTAINER_LABEL = "system_u:system_r:container_t:s0";

    public static HostLsm none(String why) {
        return new HostLsm(false, null, false, null, why);
    }

    /** Detects what {@code sysRoot} (normally "/") enforces and loads our AppArmor profile where it can. */
    public static HostLsm detect(Path sysRoot) {
        boolean apparmor = readTrimmed(sysRoot.resolve("sys/module/apparmor/parameters/enabled")).equals("Y")
                && Files.isDirectory(sysRoot.resolve("sys/kernel/security/apparmor"));
        boolean selinux = readTrimmed(sysRoot.resolve("sys/fs/selinux/enforce")).equals("1");
        if (selinux) {
            return new HostLsm(false, null, true, CONTAINER_LABEL,
                    "SELinux enforcing: sandboxes run as " + CONTAINER_LABEL);
        }
        if (!apparmor) {
            return none("neither AppArmor nor SELinux is enforced on this host: no profile or label is applied");
        }
        Optional<String> error = loadProfile();
        return error.isEmpty()
                ? new HostLsm(true, PROFILE_NAME, false, null, "AppArmor: sandboxes run under profile " + PROFILE_NAME)
                : none("AppArmor is enabled but the profile could not be loaded (" + error.get()
                        + "): no profile is applied");
    }

    /** Loads (or replaces) our profile with apparmor_parser; empty on success, else why not. */
    private static Optional<String> loadProfile() {
        try (var in = HostLsm.class.getResourceAsStream(PROFILE_RESOURCE)) {
            if (in == null) {
                return Optional.of("profile resource missing from the build");
            }
            Path file = Files.createTempFile("mcp-sandbox-apparmor", ".profile");
            try {
                Files.write(file, in.readAllBytes());
                HostCommand.Result r = HostCommand.run(List.of("apparmor_parser", "-r", "-W", file.toString()),
                        Duration.ofSeconds(30));
                return r.ok() ? Optional.empty() : Optional.of(r.message());
            } finally {
                Files.deleteIfExists(file);
            }
        } catch (IOException e) {
            return Optional.of(e.getMessage());
        }
    }

    private static String readTrimmed(Path file) {
        try {
            return Files.readString(file).trim();
        } catch (IOException e) {
            return "";
        }
    }
}
