package io.mcpsandbox.execution;

import io.mcpsandbox.config.ConfigLoader;
import io.mcpsandbox.config.DataDirectories;
import io.mcpsandbox.config.ImageSettings;
import io.mcpsandbox.config.RuntimeSettings;
import io.mcpsandbox.config.SandboxConfig;
import io.mcpsandbox.config.Settings;
import io.mcpsandbox.host.CgroupReader;
import io.mcpsandbox.host.HostIdFiles;
import io.mcpsandbox.image.HostImage;
import io.mcpsandbox.image.ImageAllowlist;
import io.mcpsandbox.image.ImageCatalog;
import io.mcpsandbox.image.ImageResolver;
import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.RuntimeInfo;
import io.mcpsandbox.network.NetworkAccess;
import io.mcpsandbox.policy.CommandPolicy;
import io.mcpsandbox.policy.RequestValidator;
import io.mcpsandbox.policy.RuntimeSelector;
import io.mcpsandbox.pool.PoolKey;
import io.mcpsandbox.pool.PoolSettings;
import io.mcpsandbox.pool.SandboxPool;
import io.mcpsandbox.record.ExecutionStore;
import io.mcpsandbox.record.ExecutionStores;
import io.mcpsandbox.runtime.LeftoverReaper;
import io.mcpsandbox.runtime.OwnerWatchdog;
import io.mcpsandbox.runtime.RuntimeRegistry;
import io.mcpsandbox.runtime.SandboxRuntime;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.SeccompProfile;
import io.mcpsandbox.runtime.UidRangeAllocator;
import io.mcpsandbox.runtime.docker.DockerConnection;
import io.mcpsandbox.runtime.docker.DockerEngine;
import io.mcpsandbox.runtime.docker.DockerRuntime;
import io.mcpsandbox.runtime.microvm.MicrovmRuntime;
import io.mcpsandbox.runtime.microvm.MicrovmSettings;
import io.mcpsandbox.runtime.oci.BundleWriter;
import io.mcpsandbox.runtime.oci.HostLsm;
import io.mcpsandbox.runtime.oci.OciRuntime;
import io.mcpsandbox.runtime.version.RuntimeVersionCheck;
import io.mcpsandbox.scan.ImageVulnerabilityPolicy;
import io.mcpsandbox.scan.OutputScanner;
import io.mcpsandbox.session.SessionService;
import io.mcpsandbox.session.SessionSettings;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.json.JsonMapper;

/** The composition root: builds the whole pipeline from configuration, by constructor injection. */
public final class SandboxServices implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SandboxServices.class);
    /** The reason on the record of an execution whose server died while it ran, closed by the next server. */
    public static final String SERVER_RESTARTED = "server restarted";
    /** The reason on the record of an execution whose process died, closed by its watchdog or a later command. */
    public static final String OWNER_DIED = "the process that ran it died";
    /** The hidden subcommand a watchdog runs when its JVM has died (see {@link OwnerWatchdog}). */
    private static final String REAPER_MAIN = "io.mcpsandbox.cli.Main";
    private static final String REAPER_COMMAND = "reap";
    /** A running record younger than this may be a live execution between its record and its sandbox. */
    private static final Duration ORPHAN_AGE = Duration.ofSeconds(60);

    private final SandboxConfig config;
    private final RuntimeRegistry registry;
    private final ExecutionService executions;
    private final SessionService sessions;
    private final RuntimeSelector selector;
    private final DockerEngine docker;
    private final ExecutionStore store;
    private final HostLsm lsm;
    private final ImageResolver images;
    private final ImageVulnerabilityPolicy imageScans;
    private final OwnerWatchdog watchdog;
    private final SandboxPool pool;
    private final SandboxClaims claims;
    private final NetworkAccess network;

    /** @throws UncheckedIOException when the data directories cannot be created or reached by sandboxes */
    public SandboxServices(SandboxConfig config) {
        this(config, HostIdFiles.system());
    }

    /** @param hostIds the host's users, groups and subordinate ranges the sandbox uid range must avoid */
    public SandboxServices(SandboxConfig config, HostIdFiles hostIds) {
        this.config = config;
        try {
            DataDirectories.prepare(config);
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        }
        JsonMapper json = JsonMapper.builder().build();
        this.lsm = HostLsm.detect(Path.of("/"));
        BundleWriter bundles = new BundleWriter(json, SeccompProfile.loadDefault(json), config.sandboxAgent(), lsm);
        UidRangeAllocator uids = new UidRangeAllocator(config.sandboxUidBase(), config.sandboxUidSlots(),
                config.stateDir().resolve("uid-slots"), hostIds);
        CgroupReader cgroups = CgroupReader.host();
        // OCI first: recovery reaps in this order, and the Docker daemon may be slow to answer, or not answer.
        List<SandboxRuntime> runtimes = new ArrayList<>(
                OciRuntime.allFlavors(config.stateDir(), config.bundlesDir(), bundles, uids, cgroups));
        // A VM per sandbox, for the critical level (docs/microvm.md); its VMs are reaped after the containers.
        runtimes.add(new MicrovmRuntime(MicrovmSettings.from(config.settings()), config.sandboxAgent(),
                config.dataDir().resolve("vms"), uids, cgroups));
        // Its own copy of the profile (the OCI bundles have theirs), read only when a container is first made: an
        // exec on an OCI runtime never reads it (start-up time, docs/cli.md).
        this.docker = new DockerEngine(config.settings().string("docker.host", DockerConnection.DEFAULT_HOST),
                config.dataDir().resolve("docker"), config.sandboxAgent(), () -> SeccompProfile.loadDefault(json),
                cgroups);
        runtimes.add(new DockerRuntime(docker, DockerRuntime.Kind.RUNC, uids));
        runtimes.add(new DockerRuntime(docker, DockerRuntime.Kind.RUNSC, uids));
        this.registry = new RuntimeRegistry(runtimes, RuntimeVersionCheck.host()::check,
                config.settings().bool(RuntimeRegistry.REFUSE_VULNERABLE_KEY, "false"));
        ImageSettings imageSettings = ImageSettings.from(config.settings());
        this.images = new ImageResolver(
                new ImageCatalog(config.imagesDir(), new HostImage(Path.of("/"), config.imagesDir())),
                ImageAllowlist.parse(imageSettings.allowed()));
        this.imageScans = ImageVulnerabilityPolicy.fromSettings(config.dataDir(), imageSettings);
        this.store = ExecutionStores.create(config, config.settings());
        RuntimeSettings runtimeSettings = RuntimeSettings.from(config.settings());
        checkRuntimeNames(runtimeSettings, registry);
        this.selector = new RuntimeSelector(registry, config.standardRuntime(), runtimeSettings);
        this.watchdog = new OwnerWatchdog(config.settings().bool("sandbox.watchdog", "true"),
                OwnerWatchdog.thisJvm(REAPER_MAIN, REAPER_COMMAND), watchdogEnv(config),
                config.dataDir().resolve("watchdog.log"));
        RequestValidator validator = new RequestValidator(config, runtimeSettings.minimumLevel());
        this.network = new NetworkAccess(config.settings());
        this.pool = new SandboxPool(PoolSettings.from(config.settings()), this::poolRuntime, images,
                key -> poolTemplate(validator, key), watchdog::ensureStarted);
        this.sessions = new SessionService(SessionSettings.from(config.settings()), validator, selector, images,
                imageScans, store, Clock.systemUTC(), watchdog::ensureStarted, pool, network);
        this.executions = new ExecutionService(validator, CommandPolicy.fromSettings(config.settings()), selector,
                images, imageScans, OutputScanner.fromSettings(config.settings()), config.dlpMode(), store,
                Duration.ofSeconds(1), watchdog::ensureStarted, sessions,
                new ImageOutputs(ImageOutputSettings.from(config.settings())), pool, config.stateDir(), network);
        this.claims = new SandboxClaims(config.stateDir());
    }

    public SandboxConfig config() {
        return config;
    }

    public ExecutionService executions() {
        return executions;
    }

    public SessionService sessions() {
        return sessions;
    }

    /** The warm pools; empty until {@link #startPools()}. */
    public SandboxPool pool() {
        return pool;
    }

    /**
     * Starts filling the warm pools (pool.*): a long-running server calls it once its runtimes are verified; a
     * one-shot command never does, so it starts nothing ahead that it would not use.
     */
    public void startPools() {
        pool.start();
    }

    /** A runtime a pool may start sandboxes on: known, usable here, and not excluded by the settings. */
    private java.util.Optional<SandboxRuntime> poolRuntime(String name) {
        return registry.find(name).filter(r -> registry.info(r).usable() && selector.exclusion(r).isEmpty());
    }

    /**
     * The plan of a default request of a pool's key, as the validator makes it (a language's snippet, or a
     * command): what the pool's sandboxes are started with, and what a request must match to take one.
     */
    private static io.mcpsandbox.policy.ExecutionPlan poolTemplate(RequestValidator validator, PoolKey key)
            throws io.mcpsandbox.policy.PolicyViolation {
        ExecutionRequest.Builder request = ExecutionRequest.builder().image(key.image()).runtime(key.runtime())
                .userId("pool");
        return validator.validate(key.language() != null ? request.language(key.language()).code("pass").build()
                : request.command("true").build());
    }

    /** A name in runtimes.allowed that no runtime of this build has is a typo that would refuse everything. */
    private static void checkRuntimeNames(RuntimeSettings settings, RuntimeRegistry registry) {
        if (settings.allowed() == null) {
            return;
        }
        List<String> known = registry.all().stream().map(SandboxRuntime::name).toList();
        for (String name : settings.allowed()) {
            if (!known.contains(name)) {
                throw new IllegalArgumentException(RuntimeSettings.KEY_ALLOWED + ": '" + name
                        + "' is not a runtime of this build (known: " + String.join(", ", known) + ")");
            }
        }
    }

    /** Why the server's settings (runtimes.allowed, security.minimum-level) exclude a runtime, if they do. */
    public java.util.Optional<String> exclusion(SandboxRuntime runtime) {
        return selector.exclusion(runtime);
    }

    /** Whether requests may have network, and the egress of those that do. */
    public NetworkAccess network() {
        return network;
    }

    public RuntimeRegistry registry() {
        return registry;
    }

    /**
     * Probes every runtime and, for those whose binary answers, runs {@code true} in a real sandbox of the
     * host image: a runtime is called usable only when that worked here. Where the allowlist excludes the
     * host image no test sandbox runs (see {@link #testSandboxAllowed()}) and the probe alone decides.
     */
    public List<RuntimeInfo> verifyRuntimes() {
        return verifyRuntimes(true);
    }

    /**
     * As {@link #verifyRuntimes()}; with {@code slowOnesToo} false, a runtime that is not
     * {@link SandboxRuntime#quickToStart() quick to start} is judged by its probe alone ({@code serve}'s start).
     */
    public List<RuntimeInfo> verifyRuntimes(boolean slowOnesToo) {
        List<RuntimeInfo> infos = new ArrayList<>();
        for (SandboxRuntime runtime : registry.all()) {
            RuntimeInfo info = registry.probe(runtime);
            registry.update(info);
            // The settings refuse every request for an excluded runtime, the test sandbox's too.
            if (info.usable() && testSandboxAllowed() && selector.exclusion(runtime).isEmpty()
                    && (slowOnesToo || runtime.quickToStart())) {
                ExecutionResult smoke = executions.execute(ExecutionRequest.builder().runtime(runtime.name())
                        .image(HostImage.NAME).command("true")
                        .limits(new LimitsRequest(30_000L, null, null, null, null)).build());
                if (smoke.status() != ExecutionStatus.COMPLETED || smoke.exitCode() != 0) {
                    String why = smoke.reason() != null ? smoke.reason() : smoke.stderr().strip();
                    info = info.refused("a test sandbox failed here: " + why);
                    registry.update(info);
                }
            }
            infos.add(info.withNetwork(network.available()));
        }
        return infos;
    }

    /** Whether {@link #verifyRuntimes()} may run its test sandbox: the allowlist may exclude the host image. */
    public boolean testSandboxAllowed() {
        return images.allowlist().allows(HostImage.NAME);
    }

    /** Whether catalog images are scanned for vulnerabilities here, and what is done with critical findings. */
    public ImageVulnerabilityPolicy imageScans() {
        return imageScans;
    }

    /**
     * Scans every catalog image a request may use, in the background, so that the first request for an image
     * does not wait for trivy (a request arriving meanwhile waits for the same scan). Does nothing without trivy.
     */
    public void scanImagesInBackground() {
        if (!imageScans.scanner().available()) {
            return;
        }
        Thread.ofVirtual().name("image-scan").start(() -> {
            for (String name : images.names()) {
                try {
                    ImageResolver.Resolved image = images.resolveImage(name);
                    image.digest().ifPresent(d -> imageScans.scanner().scan(d, image.rootfs().rootDir()));
                } catch (IOException | ImageResolver.UnknownImageException | RuntimeException e) {
                    log.warn("image {} was not scanned in advance: {}", name, e.getMessage());
                }
            }
        });
    }

    /** Every image of the catalog (the built-in host image first), as {@code images list} shows them. */
    public List<io.mcpsandbox.image.CatalogImage> images() throws IOException {
        return images.catalog().list();
    }

    /** What the host's Linux security module adds to every sandbox (or why nothing). */
    public HostLsm lsm() {
        return lsm;
    }

    public ExecutionStore store() {
        return store;
    }

    /**
     * Removes sandboxes left by a process that died (their owner lock is free) and returns their execution
     * ids. Sandboxes of live processes are left alone.
     */
    public List<String> reapLeftovers() {
        List<String> names = new ArrayList<>();
        for (LeftoverReaper reaper : registry.leftoverReapers()) {
            reaper.reapLeftovers().stream().filter(n -> !names.contains(n)).forEach(names::add);
        }
        return executionIds(names);
    }

    /**
     * What a server does when it starts: removes the sandboxes a dead process left, and closes their
     * records as {@code error} with reason "server restarted". See {@link #recoverFromCrash(String)}.
     */
    public List<String> recoverFromCrash() {
        return recoverFromCrash(SERVER_RESTARTED);
    }

    /**
     * Removes the sandboxes dead processes left (their owner lock is free, or their Docker owner is gone) and
     * closes their records as {@code error} with {@code reason}. With the embedded store (one host), also
     * closes running records that no live process owns (a death before the sandbox existed); with a shared
     * Redis such a record may be another host's, so only reaped ones are closed. Then the open sessions of a
     * stopped server are closed ({@code server_restart}) and their running executions with {@code reason}.
     * Returns the closed execution ids.
     */
    public List<String> recoverFromCrash(String reason) {
        List<String> closed = new ArrayList<>();
        // Backend by backend, each one's records closed at once: the next (the Docker daemon) may be slow to
        // answer, or not answer.
        for (LeftoverReaper reaper : registry.leftoverReapers()) {
            List<String> reaped = reaper.reapLeftovers();
            closeRecords(executionIds(reaped), reason, closed);
            reaped.forEach(claims::release);
        }
        closeRecords(orphanRecords(), reason, closed);
        try {
            // Their sandboxes were reaped above with every dead owner's. Their running executions end with them
            // now: younger than ORPHAN_AGE they are not orphanRecords() yet, and no later pass would close them.
            Set<String> orphaned = new HashSet<>(sessions.closeOrphans());
            if (!orphaned.isEmpty()) {
                closeRecords(store.running().stream().filter(r -> orphaned.contains(r.sessionId()))
                        .map(ExecutionRecord::executionId).toList(), reason, closed);
            }
        } catch (RuntimeException e) {
            log.warn("open sessions of a stopped server could not be closed now: {}", e.getMessage());
        }
        return closed;
    }

    /** The executions that ran in these sandboxes: a pooled one's by its claim, a cold one's by its name. */
    private List<String> executionIds(List<String> sandboxNames) {
        return sandboxNames.stream().flatMap(n -> claims.executionIdOf(n).stream()).toList();
    }

    /** Closes the running records among {@code ids} as error with {@code reason}, adding them to {@code closed}. */
    private void closeRecords(List<String> ids, String reason, List<String> closed) {
        for (String id : new LinkedHashSet<>(ids)) {
            if (closed.contains(id)) {
                continue;
            }
            store.find(id).filter(r -> r.status() == ExecutionStatus.RUNNING).ifPresent(r -> {
                store.recordEnd(r.cutOff(reason, Instant.now()));
                closed.add(id);
            });
        }
    }

    /**
     * What every command that runs sandboxes does first, cheaply: looks at this data directory (bundles,
     * owner locks, Docker sandbox directories) without starting a runtime binary, asking the Docker daemon or
     * querying the store (a first query costs tens of ms), and runs {@link #recoverFromCrash(String)} only
     * when a dead owner left something. This is the backstop for a watchdog that was itself killed. A record
     * left running with no sandbox at all (a death between writing it and locking the sandbox) is closed by
     * the next full reap (a watchdog's after 60 s, or {@code serve}). Returns the closed ids.
     */
    public List<String> recoverIfLeftovers(String reason) {
        if (registry.leftoverReapers().stream().anyMatch(LeftoverReaper::hasLeftovers)) {
            return recoverFromCrash(reason);
        }
        return List.of();
    }

    /** The watchdog that reaps this process's sandboxes if it dies (tests look at it). */
    public OwnerWatchdog watchdog() {
        return watchdog;
    }

    /** Running records that no live process owns, settled for a while; none with a shared (Redis) store. */
    private List<String> orphanRecords() {
        if (!config.settings().string(ExecutionStores.REDIS_URL, "").isBlank()) {
            return List.of(); // a shared store: a running record may be another host's
        }
        Instant settled = Instant.now().minus(ORPHAN_AGE);
        Set<String> active = new HashSet<>();
        executions.active().forEach(a -> active.add(a.executionId()));
        List<String> orphans = new ArrayList<>();
        for (ExecutionRecord r : store.running()) {
            String name = SandboxSpec.nameFor(r.executionId());
            if (!active.contains(r.executionId()) && r.startedAt().isBefore(settled)
                    && registry.leftoverReapers().stream().noneMatch(reaper -> reaper.ownedByLiveProcess(name))) {
                orphans.add(r.executionId());
            }
        }
        return orphans;
    }

    /**
     * The watchdog's whole environment: PATH and the MCP_SANDBOX_* configuration (the reaper must find the
     * same data directory, state directory and store), but not the API keys, which a reaper never needs.
     * Paths are made absolute: the watchdog runs in '/'.
     */
    static Map<String, String> watchdogEnv(SandboxConfig config) {
        Map<String, String> env = config.settings().env();
        Map<String, String> kept = new TreeMap<>();
        env.forEach((k, v) -> {
            if (k.equals("PATH") || (k.startsWith("MCP_SANDBOX_") && !k.equals("MCP_SANDBOX_API_KEYS"))) {
                kept.put(k, v);
            }
        });
        kept.put(ConfigLoader.ENV_DATA_DIR, config.dataDir().toAbsolutePath().toString());
        kept.put(Settings.envName("state-dir"), config.stateDir().toAbsolutePath().toString());
        if (env.containsKey(ConfigLoader.ENV_CONFIG)) {
            kept.put(ConfigLoader.ENV_CONFIG, Path.of(env.get(ConfigLoader.ENV_CONFIG)).toAbsolutePath().toString());
        }
        return kept;
    }

    @Override
    public void close() {
        pool.close(); // no more starts ahead; its ready sandboxes removed
        sessions.close();
        executions.close();
        // Every sandbox torn down: the watchdog ends quietly. Otherwise it reaps them once this JVM exits.
        watchdog.stop(executions.active().isEmpty() && executions.awaitTeardowns(Duration.ZERO));
        docker.close();
        store.close();
    }
}
