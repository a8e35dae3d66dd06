package io.mcpsandbox.runtime.microvm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * How QEMU runs the guest's CPU: KVM where the host's /dev/kvm can boot a stock kernel, else TCG (QEMU's
 * software emulation: the same isolation, several times slower). A paravirtual KVM such as kvm_pvm, found in
 * nested cloud machines, offers /dev/kvm but cannot boot an unmodified kernel: it counts as none.
 *
 * @param kvm   whether QEMU uses KVM
 * @param why   the reason for the choice, shown by {@code runtimes}
 */
public record Acceleration(boolean kvm, String why) {
    /** Setting {@code microvm.accel}: auto (the default), kvm or tcg. */
    public static final String KEY = "microvm.accel";

    public static Acceleration detect(String setting, Path sysRoot) {
        String probe = kvmProblem(sysRoot);
        return switch (setting) {
            case "tcg" -> new Acceleration(false, "TCG (" + KEY + "=tcg)");
            case "kvm" -> probe == null ? new Acceleration(true, "KVM (" + KEY + "=kvm)")
                    : new Acceleration(true, "KVM asked for by " + KEY + ", though " + probe);
            case "auto" -> probe == null ? new Acceleration(true, "KVM")
                    : new Acceleration(false, "TCG: " + probe);
            default -> throw new IllegalArgumentException(KEY + ": expected auto, kvm or tcg; got '" + setting + "'");
        };
    }

    /** Why KVM cannot be used here, or null when it can. */
    static String kvmProblem(Path sysRoot) {
        Path kvm = sysRoot.resolve("dev/kvm");
        if (!Files.exists(kvm)) {
            return "no /dev/kvm";
        }
        if (Files.isDirectory(sysRoot.resolve("sys/module/kvm_pvm"))) {
            return "/dev/kvm is kvm_pvm, a paravirtual KVM that cannot boot a stock kernel";
        }
        try {
            String cpu = Files.readString(sysRoot.resolve("proc/cpuinfo"));
            if (!cpu.matches("(?s).*\\bflags\\s*:[^\\n]*\\b(vmx|svm)\\b.*")) {
                return "the CPU offers no VT-x or AMD-V";
            }
        } catch (IOException e) {
            return "cannot read /proc/cpuinfo";
        }
        if (!Files.isReadable(kvm) || !Files.isWritable(kvm)) {
            return "/dev/kvm is not accessible";
        }
        return null;
    }
}
