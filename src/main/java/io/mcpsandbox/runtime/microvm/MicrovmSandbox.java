package io.mcpsandbox.runtime.microvm;

import io.mcpsandbox.host.CgroupReader;
import io.mcpsandbox.host.DeleteTree;
import io.mcpsandbox.host.HostCommand;
import io.mcpsandbox.runtime.FifoPipes;
import io.mcpsandbox.runtime.OwnerLock;
import io.mcpsandbox.runtime.PreparedSandbox;
import io.mcpsandbox.runtime.RunningSandbox;
import io.mcpsandbox.runtime.SandboxCgroup;
import io.mcpsandbox.runtime.SandboxException;
import io.mcpsandbox.runtime.SandboxExit;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One microVM: its directory, its QEMU process (the guest's agent speaks through QEMU's pipe chardevs) and its
 * teardown. Killing QEMU ends everything the guest ran: there is nothing of the sandbox outside that process.
 */
final class MicrovmSandbox implements PreparedSandbox, RunningSandbox {
    private static final Logger log = LoggerFactory.getLogger(MicrovmSandbox.class);
    /** QEMU's own messages (its stderr), root's file in the VM directory; a bounded tail goes into failures. */
    static final String QEMU_LOG = "qemu.log";
    private static final int QEMU_LOG_TAIL = 1024;
    /**
     * Joins the cgroup, then becomes QEMU: in a network namespace of its own (nothing to reach even if the guest
     * took QEMU over), as the VM's uid, with no groups, no capabilities and no new privileges.
     */
    private static final String LAUNCH =
            "for f in $CGROUP_PROCS; do echo $$ > \"$f\" || exit 125; done; exec \"$@\"";

    private final MicrovmRuntime runtime;
    private final String name;
    private final Path vmDir;
    private final long uidBase;
    private final int qemuUid;
    private final SandboxCgroup cgroup;
    private final FifoPipes pipes;
    private final OwnerLock owner;
    private final List<String> qemuArgv;
    private final AtomicBoolean started = new AtomicBoolean();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final AtomicBoolean killed = new AtomicBoolean();
    private volatile Process qemu;
    private volatile GuestConsole console;

    MicrovmSandbox(MicrovmRuntime runtime, String name, Path vmDir, long uidBase, int qemuUid, SandboxCgroup cgroup,
                   FifoPipes pipes, OwnerLock owner, List<String> qemuArgv) {
        this.runtime = runtime;
        this.name = name;
        this.vmDir = vmDir;
        this.uidBase = uidBase;
        this.qemuUid = qemuUid;
        this.cgroup = cgroup;
        this.pipes = pipes;
        this.owner = owner;
        this.qemuArgv = List.copyOf(qemuArgv);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public RunningSandbox start() throws SandboxException {
        if (!started.compareAndSet(false, true)) {
            throw new IllegalStateException("sandbox " + name + " was already started");
        }
        List<String> argv = new ArrayList<>(List.of("/bin/sh", "-c", LAUNCH, "sh", "unshare", "--net", "--",
                "setpriv", "--reuid=" + qemuUid, "--regid=" + qemuUid, groups(), "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs", "--"));
        argv.addAll(qemuArgv);
        ProcessBuilder pb = pipes.redirectChannel(HostCommand.builder(argv).directory(vmDir.toFile()))
                .redirectError(ProcessBuilder.Redirect.appendTo(vmDir.resolve(QEMU_LOG).toFile()));
        pb.environment().put("CGROUP_PROCS",
                cgroup.procsFiles().stream().map(Path::toString).collect(Collectors.joining(" ")));
        log.debug("{}: {}", name, String.join(" ", argv));
        try {
            qemu = pb.start();
            return this;
        } catch (IOException e) {
            throw new SandboxException("cannot start QEMU: " + e.getMessage(), e);
        }
    }

    /** KVM needs the group of /dev/kvm; nothing else does. */
    private String groups() {
        if (runtime.acceleration().kvm()) {
            try {
                return "--groups=" + Files.getAttribute(Path.of("/dev/kvm"), "unix:gid");
            } catch (IOException | RuntimeException e) {
                return "--clear-groups";
            }
        }
        return "--clear-groups";
    }

    @Override
    public OutputStream toAgent() {
        return pipes.toAgent();
    }

    @Override
    public InputStream fromAgent() {
        return pipes.fromAgent();
    }

    @Override
    public synchronized InputStream agentLog() {
        if (console == null) {
            console = new GuestConsole(pipes.log());
        }
        return console;
    }

    @Override
    public CgroupReader.Usage usage() {
        CgroupReader.Usage host = cgroup.usage();
        GuestConsole c = console;
        long guestOoms = c == null ? 0 : c.oomKills();
        return new CgroupReader.Usage(host.cpuNanos(), host.peakMemoryBytes(), host.oomKills() + guestOoms,
                host.pidsLimitHits());
    }

    /**
     * QEMU's end. It ends with the guest: when the agent (the guest's PID 1) exits, the guest kernel panics and
     * the VM powers off. A QEMU that failed on its own says so on its stderr.
     */
    @Override
    public SandboxExit awaitExit() throws InterruptedException {
        Process p = qemu;
        if (p == null) {
            return SandboxExit.failed("QEMU was never started");
        }
        int status = p.waitFor();
        CgroupReader.Usage usage = usage();
        if (status != 0 && !killed.get() && usage.oomKills() == 0) {
            return SandboxExit.failed("QEMU exited with status " + status + ": " + qemuLogTail());
        }
        return new SandboxExit(status, usage.cpuNanos() / 1_000_000, usage.peakMemoryBytes(), usage.oomKills() > 0,
                usage.pidsLimitHits() > 0, null);
    }

    @Override
    public void kill() {
        killed.set(true);
        Process p = qemu;
        if (p != null) {
            p.destroyForcibly(); // the VM, and with it every process of the sandbox, is this one process
        }
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        kill();
        Process p = qemu;
        try {
            if (p != null && !p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        pipes.close();
        cgroup.remove(); // kills whatever is still in it
        DeleteTree.deleteQuietly(vmDir); // never follows a link (QEMU's uid could have made some)
        owner.close(); // last: until here a reaper must see this VM as owned
        runtime.release(uidBase);
    }

    /** The end of QEMU's stderr, bounded and made printable. */
    private String qemuLogTail() {
        Path log = vmDir.resolve(QEMU_LOG);
        try (RandomAccessFile file = new RandomAccessFile(log.toFile(), "r")) {
            long length = file.length();
            int n = (int) Math.min(length, QEMU_LOG_TAIL);
            byte[] tail = new byte[n];
            file.seek(length - n);
            file.readFully(tail);
            return new String(tail, StandardCharsets.UTF_8).replaceAll("[^\\x20-\\x7e]+", " ").trim();
        } catch (IOException e) {
            return "(no message)";
        }
    }
}
