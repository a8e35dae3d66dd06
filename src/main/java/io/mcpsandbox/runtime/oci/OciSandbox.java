package io.mcpsandbox.runtime.oci;

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
import io.mcpsandbox.runtime.WorkspaceTmpfs;
import io.mcpsandbox.runtime.WritableRoot;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * One OCI container: its bundle, its foreground runtime process ({@code run}) whose stdio are the agent's
 * channel and log, and its teardown.
 */
final class OciSandbox implements PreparedSandbox, RunningSandbox {
    private static final Logger log = LoggerFactory.getLogger(OciSandbox.class);
    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(30);
    /** How long close kills a still running (or still starting) runtime before it deletes it anyway. */
    private static final Duration STOP_WAIT = Duration.ofSeconds(3);
    /** Joins the runtime process to our cgroup, then becomes the runtime (see SandboxCgroup). */
    private static final String JOIN_CGROUP =
            "for f in $CGROUP_PROCS; do echo $$ > \"$f\" || exit 125; done; exec \"$@\"";

    /** The runtime's log in the bundle, created root-only before the runtime appends to it. */
    static final String LOG_FILE = "runtime.log";

    private final OciRuntime runtime;
    private final String name;
    private final Path bundle;
    private final long hostUidBase;
    private final SandboxCgroup ownCgroup;
    private final FifoPipes pipes;
    private final OwnerLock owner;
    private final AtomicBoolean started = new AtomicBoolean();
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile Process runtimeProcess;

    OciSandbox(OciRuntime runtime, String name, Path bundle, long hostUidBase, SandboxCgroup ownCgroup,
               FifoPipes pipes, OwnerLock owner) {
        this.runtime = runtime;
        this.name = name;
        this.bundle = bundle;
        this.hostUidBase = hostUidBase;
        this.ownCgroup = ownCgroup;
        this.pipes = pipes;
        this.owner = owner;
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
        List<String> argv = new ArrayList<>(runtime.command());
        argv.addAll(List.of("--log", logFile().toString(), "--log-format", "json", "run"));
        if (runtime.flavor().supportsKeep()) {
            argv.add("--keep");
        }
        argv.addAll(List.of("--bundle", bundle.toString(), name));
        ProcessBuilder pb;
        if (ownCgroup != null) {
            List<String> wrapped = new ArrayList<>(List.of("/bin/sh", "-c", JOIN_CGROUP, "sh"));
            wrapped.addAll(argv);
            pb = HostCommand.builder(wrapped);
            pb.environment().put("CGROUP_PROCS",
                    ownCgroup.procsFiles().stream().map(Path::toString).collect(Collectors.joining(" ")));
        } else {
            pb = HostCommand.builder(argv);
        }
        try {
            runtimeProcess = pipes.redirect(pb.directory(bundle.toFile())).start();
            return this;
        } catch (IOException e) {
            throw new SandboxException("cannot start " + runtime.name() + ": " + e.getMessage(), e);
        }
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
    public InputStream agentLog() {
        return pipes.log();
    }

    @Override
    public CgroupReader.Usage usage() {
        return ownCgroup != null ? ownCgroup.usage() : runtime.cgroups().read(BundleWriter.cgroupPath(name));
    }

    @Override
    public SandboxExit awaitExit() throws InterruptedException {
        int status = runtimeProcess.waitFor();
        String failure = runtimeFailure();
        if (failure != null) {
            return SandboxExit.failed(runtime.name() + ": " + failure);
        }
        CgroupReader.Usage usage = usage();
        return new SandboxExit(status, usage.cpuNanos() / 1_000_000, usage.peakMemoryBytes(), usage.oomKills() > 0,
                usage.pidsLimitHits() > 0, null);
    }

    /** The runtime logs its own failures as JSON lines at level error; the agent's exit status is not one. */
    private String runtimeFailure() {
        List<String> errors = new ArrayList<>();
        for (String line : readLogLines()) {
            try {
                JsonNode node = JsonMapper.shared().readTree(line);
                String level = node.path("level").asString("");
                if (level.equals("error") || level.equals("fatal")) {
                    errors.add(node.path("msg").asString(""));
                }
            } catch (RuntimeException notJson) {
                // runsc writes a few plain lines too
            }
        }
        return errors.isEmpty() ? null : String.join("; ", errors);
    }

    @Override
    public void kill() {
        // With its own pid namespace, everything in the sandbox dies with its first process.
        signalKill();
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        if (!stopRuntime()) {
            delete(true);
        }
        Process p = runtimeProcess;
        if (p != null && p.isAlive()) {
            p.destroyForcibly();
        }
        pipes.close();
        WorkspaceTmpfs.unmount(bundle.resolve("workspace"));
        WritableRoot.unmount(bundle.resolve(OciRuntime.WRITABLE_ROOT_DIR));
        if (ownCgroup != null) {
            ownCgroup.remove();
        } else {
            for (Path dir : runtime.cgroups().directories(BundleWriter.cgroupPath(name))) {
                deleteQuietly(dir); // runc removes its cgroup on delete; this only catches a failed delete
            }
        }
        if (WritableRoot.anyMounted(bundle)) {
            log.warn("{}: something is still mounted below {}; left in place", name, bundle);
        } else {
            DeleteTree.deleteQuietly(bundle); // never follows a link the sandbox may have planted
        }
        owner.close(); // last: until here a reaper must see this sandbox as owned
        runtime.releaseUids(hostUidBase);
    }

    /**
     * Stops the container until the runtime process has ended; whether it was deleted on the way. Closed while
     * the runtime still creates the container, a delete finds nothing yet and the processes it then starts
     * would hold their cgroup after close: so this is repeated until the runtime ends. runc: its {@code run}
     * is the subreaper of the container's processes, so SIGKILL to its children is runc kill (to the
     * container's first process; everything in its pid namespace dies with it) without a runtime call; once
     * run has ended, close's delete finds a stopped container. runsc: a kill, then its run ends by itself (it
     * destroys the container and reaps its gofer on the way). A delete from here while run lives would hold the
     * container's lock and wait for a gofer only run can reap: gVisor gives up after 5 s (its issue 6255), 5 s
     * of teardown each time. Otherwise a forced delete (it kills first): one runtime call, not a kill and a
     * delete; also where the kill fails (the container is not started yet).
     */
    private boolean stopRuntime() {
        Process p = runtimeProcess;
        long deadline = System.nanoTime() + STOP_WAIT.toNanos();
        boolean deleted = false;
        boolean killed = false;
        try {
            while (p != null && p.isAlive() && System.nanoTime() < deadline) {
                if (deleted || killed) {
                    p.waitFor(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                } else if (runtime.flavor() == OciFlavor.RUNC && killChildren(p.pid())) {
                    p.waitFor(250, TimeUnit.MILLISECONDS);
                } else if (runtime.flavor() == OciFlavor.RUNSC && signalKill()) {
                    killed = true;
                } else {
                    deleted = delete(false);
                    p.waitFor(250, TimeUnit.MILLISECONDS);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // the forced delete in close still runs
            return false;
        }
        return deleted;
    }

    /**
     * SIGKILL to the direct children of {@code pid} (the kernel's list, not a scan of /proc); false when the
     * kernel does not offer that list. A child that has exited meanwhile is skipped: ProcessHandle checks its
     * start time, so a reused pid is never signalled.
     */
    static boolean killChildren(long pid) {
        String children;
        try {
            children = Files.readString(Path.of("/proc", Long.toString(pid), "task", Long.toString(pid), "children"));
        } catch (IOException | RuntimeException e) {
            return false;
        }
        for (String child : children.trim().split("\\s+")) {
            if (!child.isEmpty()) {
                ProcessHandle.of(Long.parseLong(child)).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
        return true;
    }

    /** {@code kill NAME KILL} to the container's first process; whether the runtime did it. */
    private boolean signalKill() {
        try {
            return HostCommand.run(runtime.command("kill", name, "KILL"), COMMAND_TIMEOUT).ok();
        } catch (IOException e) {
            log.debug("kill {}: {}", name, e.getMessage());
            return false;
        }
    }

    /** {@code delete --force}: kills the container if it runs, then deletes it; whether it did. */
    private boolean delete(boolean last) {
        try {
            HostCommand.Result deleted = HostCommand.run(runtime.command("delete", "--force", name), COMMAND_TIMEOUT);
            if (!deleted.ok() && last && !deleted.message().contains("not exist")) {
                log.warn("{} delete {}: {}", runtime.name(), name, deleted.message());
            }
            return deleted.ok();
        } catch (IOException e) {
            if (last) {
                log.warn("{} delete {}: {}", runtime.name(), name, e.getMessage());
            }
            return false;
        }
    }

    private Path logFile() {
        return bundle.resolve(LOG_FILE);
    }

    private List<String> readLogLines() {
        try {
            return Files.exists(logFile()) ? Files.readAllLines(logFile()) : List.of();
        } catch (IOException e) {
            return List.of();
        }
    }

    private static void deleteQuietly(Path path) {
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            log.warn("cannot remove {}: {}", path, e.getMessage());
        }
    }
}
