package io.mcpsandbox.runtime.microvm;

import io.mcpsandbox.config.Settings;
import java.nio.file.Path;

/**
 * The microVM runtime's settings (docs/configuration.md).
 *
 * @param guest the guest to boot ({@code microvm.guest-dir}, default {@link GuestImage#DEFAULT_DIR})
 * @param qemu  the QEMU binary ({@code microvm.qemu}, found on the host PATH)
 * @param accel {@code microvm.accel}: auto, kvm or tcg
 */
public record MicrovmSettings(GuestImage guest, String qemu, String accel) {
    public static MicrovmSettings from(Settings settings) {
        String accel = settings.string(Acceleration.KEY, "auto");
        if (!accel.matches("auto|kvm|tcg")) {
            throw new IllegalArgumentException(Acceleration.KEY + ": expected auto, kvm or tcg; got '" + accel + "'");
        }
        return new MicrovmSettings(new GuestImage(Path.of(settings.string("microvm.guest-dir",
                GuestImage.DEFAULT_DIR.toString()))), settings.string("microvm.qemu", "qemu-system-x86_64"), accel);
    }
}
