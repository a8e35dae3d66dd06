package io.mcpsandbox.runtime.microvm;

import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.RootFilesystem;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The QEMU command line of one microVM (docs/microvm.md): {@code -M microvm} with no firmware, no PCI, no
 * network, no display, no monitor and no serial port; the guest's console and the agent's channel on one
 * virtio-serial device: the console a pair of FIFOs in the VM's directory, the channel QEMU's own stdin and
 * stdout (a stdio chardev sees the host's end close, and the guest's agent then reads end-of-file and exits, as
 * in a container; a pipe chardev holds both ends itself and never would); the image root and its host binds as
 * read-only 9p shares; QEMU's own seccomp filter on. What guest/init needs travels on the kernel command line.
 */
final class QemuCommand {
    /** The uid the sandbox's programs (and the agent) run as inside the guest, as in every other runtime. */
    static final int GUEST_UID = 1000;
    /** What the guest kernel, the agent and page tables take beyond the sandbox's own memory limit. */
    static final long GUEST_OVERHEAD_BYTES = 96L << 20;
    /** What QEMU itself takes on the host beyond the guest's RAM (its code, TCG's translation cache, 9p). */
    static final long QEMU_OVERHEAD_BYTES = 192L << 20;
    /** TCG's translation cache, in MiB: QEMU's default (a quarter of the guest's RAM, at least 1 GiB) is large. */
    static final int TCG_CACHE_MIB = 64;
    static final String AGENT_CHARDEV = "agent";
    static final String CONSOLE_CHARDEV = "console";
    static final String SEED_TAG = "seed";
    private static final Pattern SAFE_DESTINATION = Pattern.compile("/[A-Za-z0-9._+/-]{1,200}");

    private QemuCommand() {
    }

    /** Guest RAM for a sandbox limit: the limit plus the guest's own overhead, in whole MiB. */
    static long guestMemoryMib(ResourceLimits limits) {
        return (limits.memoryBytes() + GUEST_OVERHEAD_BYTES + (1 << 20) - 1) >> 20;
    }

    /** vCPUs for a CPU limit: enough to use it, at most the host's. */
    static int vcpus(ResourceLimits limits) {
        int host = Runtime.getRuntime().availableProcessors();
        return (int) Math.max(1, Math.min(host, Math.ceil(limits.cpus())));
    }

    static List<String> argv(String qemu, GuestImage guest, Acceleration accel, Path vmDir, RootFilesystem rootfs,
                             ResourceLimits limits, boolean seed, long tscKhz) {
        List<String> argv = new ArrayList<>(List.of(qemu, "-name", vmDir.getFileName().toString(),
                "-M", "microvm,x-option-roms=off,isa-serial=off",
                "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none", "-no-reboot",
                "-m", guestMemoryMib(limits) + "M", "-smp", Integer.toString(vcpus(limits)),
                "-kernel", escape(guest.kernel()), "-initrd", escape(guest.initramfs()),
                "-append", kernelCommandLine(rootfs, limits, seed, accel.kvm() ? 0 : tscKhz),
                "-device", "virtio-serial-device",
                "-chardev", "pipe,id=" + CONSOLE_CHARDEV + ",path=" + escape(vmDir.resolve(CONSOLE_CHARDEV)),
                "-device", "virtconsole,chardev=" + CONSOLE_CHARDEV,
                "-chardev", "stdio,id=" + AGENT_CHARDEV + ",signal=off",
                "-device", "virtserialport,chardev=" + AGENT_CHARDEV + ",name=" + AGENT_CHARDEV));
        if (accel.kvm()) {
            argv.addAll(List.of("-accel", "kvm", "-cpu", "host"));
        } else {
            argv.addAll(List.of("-accel", "tcg,tb-size=" + TCG_CACHE_MIB));
        }
        share(argv, "root", rootfs.rootDir());
        for (int i = 0; i < rootfs.binds().size(); i++) {
            share(argv, "b" + i, rootfs.binds().get(i).source());
        }
        if (seed) {
            share(argv, SEED_TAG, vmDir.resolve(SEED_TAG));
        }
        // No new privileges, no process spawned, no obsolete system calls, no scheduler or affinity changes.
        argv.addAll(List.of("-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"));
        return argv;
    }

    /**
     * The guest kernel's command line: quiet, a panic (the agent, PID 1, ended) powers the VM off, and guest/init's
     * parameters (words with an {@code =} and no dot reach init as its environment).
     */
    static String kernelCommandLine(RootFilesystem rootfs, ResourceLimits limits, boolean seed, long tscKhz) {
        List<String> binds = new ArrayList<>();
        for (int i = 0; i < rootfs.binds().size(); i++) {
            String destination = rootfs.binds().get(i).destination();
            if (!SAFE_DESTINATION.matcher(destination).matches() || destination.contains("..")) {
                throw new IllegalArgumentException("a bind destination the guest cannot be told: " + destination);
            }
            binds.add("b" + i + ":" + destination);
        }
        List<String> words = new ArrayList<>(List.of("console=hvc0", "quiet", "panic=-1", "pci=off",
                "random.trust_cpu=on"));
        if (tscKhz > 0) {
            // TCG offers no way to calibrate the TSC (no PIT reference it trusts): without its rate the guest's
            // timer may never tick. The host's rate is the one TCG's TSC runs at.
            words.add("tsc=reliable");
            words.add("tsc_early_khz=" + tscKhz);
        }
        words.add("mcp_binds=" + String.join(",", binds));
        words.add("mcp_seed=" + (seed ? 1 : 0));
        words.add("mcp_tmp=" + limits.tmpBytes());
        words.add("mcp_inodes=" + limits.tmpInodes());
        words.add("mcp_nofile=" + limits.openFiles());
        words.add("mcp_nproc=" + limits.pids());
        words.add("mcp_uid=" + GUEST_UID);
        return String.join(" ", words);
    }

    private static void share(List<String> argv, String tag, Path source) {
        argv.addAll(List.of("-fsdev", "local,id=" + tag + ",path=" + escape(source)
                        + ",security_model=none,readonly=on",
                "-device", "virtio-9p-device,fsdev=" + tag + ",mount_tag=" + tag));
    }

    /** QEMU's option syntax: a comma in a value is written twice. */
    static String escape(Path path) {
        return path.toString().replace(",", ",,");
    }

    /** The host's TSC rate in kHz (TCG's guest TSC runs at it), from /proc/cpuinfo; 0 when unknown. */
    static long hostTscKhz(Path cpuinfo) {
        try {
            Matcher m = Pattern.compile("cpu MHz\\s*:\\s*([0-9]+)(?:\\.([0-9]{1,3}))?").matcher(
                    Files.readString(cpuinfo));
            if (m.find()) {
                String fraction = m.group(2) == null ? "0" : (m.group(2) + "00").substring(0, 3);
                return Long.parseLong(m.group(1)) * 1000 + Long.parseLong(fraction);
            }
        } catch (IOException | NumberFormatException e) {
            // unknown: the guest calibrates on its own
        }
        return 0;
    }
}
