package io.mcpsandbox.bench;

import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.host.CgroupReader;
import io.mcpsandbox.host.HostCommand;
import io.mcpsandbox.host.HostIdFiles;
import io.mcpsandbox.image.HostImage;
import io.mcpsandbox.image.ImageResolver;
import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.policy.RequestValidator;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.SeccompProfile;
import io.mcpsandbox.runtime.UidRangeAllocator;
import io.mcpsandbox.runtime.oci.BundleWriter;
import io.mcpsandbox.runtime.oci.HostLsm;
import io.mcpsandbox.runtime.oci.OciFlavor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * The raw-runtime yardstick of the benchmarks (LatencyBenchmark, FastPathBenchmark): a bundle written once by the
 * project's own BundleWriter (host image, default limits: the same rootfs, mounts, namespaces, uid mapping,
 * cgroup limits, rlimits, seccomp and hooks as ours), then given the program itself as PID 1 (no agent), run by
 * the runtime binary alone. Holds one uid range, the runtimes' --root directories under the state directory and
 * the bundles' cgroups; {@link #close} removes what is left of them.
 */
final class RawBundles {
    private static final Duration CMD_TIMEOUT = Duration.ofSeconds(60);
    /** The environment the raw and docker yardsticks give the program, as ours does (RequestValidator). */
    static final Map<String, String> PROGRAM_ENV = Map.of("PATH", RequestValidator.PATH,
            "HOME", SandboxSpec.WORKSPACE);

    /** A bundle written once, and the runtime's global flags. */
    record Bundle(String name, Path bundle, OciFlavor flavor, List<String> global) {
        /**
         * Timed: {@code run} (runc with --keep, as ours) of a container {@code id} then its {@code delete};
         * {@code extraGlobal} added to the global flags. Returns the total and the delete, ns.
         */
        long[] runAndDelete(String id, List<String> extraGlobal, String expectedStdout) throws Exception {
            List<String> flags = new ArrayList<>(global);
            flags.addAll(extraGlobal);
            List<String> runArgv = new ArrayList<>(flags);
            runArgv.add("run");
            if (flavor.supportsKeep()) {
                runArgv.add("--keep");
            }
            runArgv.addAll(List.of("--bundle", bundle.toString(), id));
            List<String> deleteArgv = new ArrayList<>(flags);
            deleteArgv.addAll(flavor.supportsKeep() ? List.of("delete", id) : List.of("delete", "--force", id));

            long t0 = System.nanoTime();
            LatencyBenchmark.Captured c = LatencyBenchmark.capture(HostCommand.builder(runArgv)
                    .directory(bundle.toFile()));
            long t1 = System.nanoTime();
            HostCommand.Result deleted = HostCommand.run(deleteArgv, CMD_TIMEOUT);
            long t2 = System.nanoTime();
            c.expect(0, expectedStdout, String.join(" ", runArgv));
            if (!deleted.ok() && !deleted.message().contains("not exist")) {
                throw new IllegalStateException(String.join(" ", deleteArgv) + ": " + deleted.message());
            }
            return new long[] {t2 - t0, t2 - t1};
        }
    }

    private final Path dataDir;
    private final Path rawDir;
    private final Path stateDir;
    private final BundleWriter writer;
    private final RootFilesystem rootfs;
    private final ResourceLimits limits;
    private final UidRangeAllocator uids;
    private final long uidBase;
    private final Set<String> names;
    private final List<Path> roots = new ArrayList<>();
    private final List<String> cgroups = new ArrayList<>();

    /**
     * The writer, host image and uid range of {@code config} (whose data and state directories are the
     * benchmark's own); bundles go to {@code <dataDir>/raw}, roots to {@code <stateDir>/raw-<binary>}. Every
     * name used is added to {@code names} (the caller's leftover check looks for them).
     */
    RawBundles(SandboxConfig config, Path dataDir, Path stateDir, Set<String> names) throws Exception {
        JsonMapper json = JsonMapper.builder().build();
        this.writer = new BundleWriter(json, SeccompProfile.loadDefault(json), config.sandboxAgent(),
                HostLsm.detect(Path.of("/")));
        this.rootfs = new ImageResolver(new HostImage(Path.of("/"), config.imagesDir())).resolve(HostImage.NAME);
        this.limits = config.defaultLimits();
        this.uids = new UidRangeAllocator(config.sandboxUidBase(), config.sandboxUidSlots(),
                config.stateDir().resolve("uid-slots"), HostIdFiles.system());
        this.uidBase = uids.acquire();
        this.dataDir = dataDir;
        this.rawDir = dataDir.resolve("raw");
        this.stateDir = stateDir;
        this.names = names;
    }

    BundleWriter writer() {
        return writer;
    }

    RootFilesystem rootfs() {
        return rootfs;
    }

    /** The allocator the raw bundles' range came from (others may take ranges of their own from it). */
    UidRangeAllocator uids() {
        return uids;
    }

    /** Writes bundle {@code name} for {@code argv} as PID 1 under {@code flavor}. */
    Bundle create(String name, List<String> argv, OciFlavor flavor) throws IOException {
        Path bundle = rawDir.resolve(name);
        Path root = stateDir.resolve("raw-" + flavor.binary());
        Files.createDirectories(root);
        if (!roots.contains(root)) {
            roots.add(root);
        }
        Path workspace = bundle.resolve("workspace");
        Files.createDirectories(workspace);
        for (Path p = bundle; p.startsWith(dataDir); p = p.getParent()) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        int sandboxUid = (int) (uidBase + BundleWriter.SANDBOX_UID);
        Files.setAttribute(workspace, "unix:uid", sandboxUid, LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(workspace, "unix:gid", sandboxUid, LinkOption.NOFOLLOW_LINKS);
        SandboxSpec spec = new SandboxSpec(name, rootfs, limits, Map.of());
        writer.write(bundle, spec, flavor, workspace, uidBase);
        runProgramAsInit(bundle.resolve("config.json"), argv);
        cgroups.add(BundleWriter.cgroupPath(name));
        names.add(name);

        List<String> global = new ArrayList<>(List.of(flavor.binary(), "--root", root.toString()));
        if (flavor == OciFlavor.RUNSC) {
            // As ours, minus --ignore-cgroups: raw runsc applies the bundle's cgroup limits itself.
            global.addAll(List.of("--network=none", "--oci-seccomp", "--file-access-mounts=exclusive"));
        }
        return new Bundle(name, bundle, flavor, List.copyOf(global));
    }

    /**
     * Rewrites a bundle's process to be the program itself as PID 1, with ours' environment and working
     * directory: a bare {@code runc run} of the program, the yardstick. Everything else BundleWriter wrote
     * (user, capabilities, rlimits, seccomp, mounts, namespaces, cgroup limits, hooks) stays as ours has it.
     */
    static void runProgramAsInit(Path configJson, List<String> argv) throws IOException {
        JsonMapper json = JsonMapper.shared();
        JsonNode config = json.readTree(Files.readString(configJson));
        ObjectNode process = (ObjectNode) config.get("process");
        ArrayNode args = process.putArray("args");
        argv.forEach(args::add);
        ArrayNode env = process.putArray("env");
        new TreeMap<>(PROGRAM_ENV).forEach((k, v) -> env.add(k + "=" + v));
        process.put("cwd", SandboxSpec.WORKSPACE);
        Files.writeString(configJson, json.writerWithDefaultPrettyPrinter().writeValueAsString(config));
    }

    /**
     * Deletes every container left in the raw roots and the bundles' cgroups, and gives the uid range back
     * (the bundles themselves are under the caller's data directory). Returns the containers it had to delete.
     */
    List<String> close() {
        List<String> left = new ArrayList<>();
        for (Path root : roots) {
            String binary = root.getFileName().toString().substring("raw-".length());
            try {
                HostCommand.Result list = HostCommand.run(List.of(binary, "--root", root.toString(), "list", "-q"),
                        CMD_TIMEOUT);
                for (String id : list.stdout().lines().map(String::strip).filter(s -> !s.isEmpty()).toList()) {
                    left.add(binary + " container " + id + " (raw)");
                    HostCommand.run(List.of(binary, "--root", root.toString(), "delete", "--force", id), CMD_TIMEOUT);
                }
            } catch (IOException e) {
                System.err.println("cleanup: " + binary + " list: " + e.getMessage());
            }
        }
        CgroupReader reader = CgroupReader.host();
        for (String path : cgroups) {
            for (Path dir : reader.directories(path)) {
                try {
                    Files.deleteIfExists(dir);
                } catch (IOException e) {
                    System.err.println("cleanup: cannot remove cgroup " + dir + ": " + e.getMessage());
                }
            }
        }
        uids.release(uidBase);
        return left;
    }
}
