package io.mcpsandbox.execution;

import io.mcpsandbox.config.DataDirectories;
import io.mcpsandbox.config.ImageSettings;
import io.mcpsandbox.config.SandboxConfig;
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
import io.mcpsandbox.policy.CommandPolicy;
import io.mcpsandbox.policy.RequestValidator;
import io.mcpsandbox.policy.RuntimeSelector;
import io.mcpsandbox.record.ExecutionStore;
import io.mcpsandbox.record.ExecutionStores;
import io.mcpsandbox.runtime.RuntimeRegistry;
import io.mcpsandbox.runtime.SandboxRuntime;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.docker.DockerEngine;
import io.mcpsandbox.runtime.docker.DockerRuntime;
import io.mcpsandbox.runtime.oci.BundleWriter;
import io.mcpsandbox.runtime.oci.CgroupReader;
import io.mcpsandbox.runtime.oci.HostIdFiles;
import io.mcpsandbox.runtime.oci.HostLsm;
import io.mcpsandbox.runtime.oci.LeftoverReaper;
import io.mcpsandbox.runtime.oci.OciFlavor;
import io.mcpsandbox.runtime.oci.OciRuntime;
import io.mcpsandbox.runtime.oci.SeccompProfile;
import io.mcpsandbox.runtime.oci.UidRangeAllocator;
import io.mcpsandbox.scan.ImageVulnerabilityPolicy;
import io.mcpsandbox.scan.OutputScanner;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.json.JsonMapper;

/** The composition root: builds the whole pipeline from configuration, by constructor injection. */
public final class SandboxServices implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SandboxServices.class);
    /** The reason on the record of an execution whose server died while it ran. */
    public static final String SERVER_RESTARTED = "server restarted";
    /** A running record younger than this may be a live execution between its record and its sandbox. */
    private static final Duration ORPHAN_AGE = Duration.ofSeconds(60);

    private final SandboxConfig config;
    private final RuntimeRegistry registry;
    private final ExecutionService executions;
    private final LeftoverReaper reaper;
    private final DockerEngine docker;
    private final ExecutionStore store;
    private final HostLsm lsm;
    private final ImageResolver images;
    private final ImageVulnerabilityPolicy imageScans;

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
        BundleWriter bundles = new BundleWriter(json, SeccompProfile.loadDefault(json), config.sandboxInit(), lsm);
        UidRangeAllocator uids = new UidRangeAllocator(config.sandboxUidBase(), config.sandboxUidSlots(),
                config.stateDir().resolve("uid-slots"), hostIds);
        CgroupReader cgroups = CgroupReader.host();
        List<SandboxRuntime> runtimes = new ArrayList<>();
        List<OciRuntime> ociRuntimes = new ArrayList<>();
        for (OciFlavor flavor : OciFlavor.values()) {
            ociRuntimes.add(new OciRuntime(flavor, config.stateDir().resolve(flavor.binary()), config.bundlesDir(),
                    bundles, uids, cgroups));
        }
        runtimes.addAll(ociRuntimes);
        this.reaper = new LeftoverReaper(ociRuntimes, config.bundlesDir(), cgroups);
        this.docker = new DockerEngine(config.settings().string("docker.host", DockerEngine.DEFAULT_HOST),
                config.dataDir().resolve("docker"), config.sandboxInit(),
                Path.of(config.settings().string("docker.env-helper", "/bin/busybox")),
                SeccompProfile.loadDefault(json), cgroups);
        runtimes.add(new DockerRuntime(docker, DockerRuntime.Kind.RUNC));
        runtimes.add(new DockerRuntime(docker, DockerRuntime.Kind.RUNSC));
        this.registry = new RuntimeRegistry(runtimes);
        ImageSettings imageSettings = ImageSettings.from(config.settings());
        this.images = new ImageResolver(
                new ImageCatalog(config.imagesDir(), new HostImage(Path.of("/"), config.imagesDir())),
                ImageAllowlist.parse(imageSettings.allowed()));
        this.imageScans = ImageVulnerabilityPolicy.fromSettings(config.dataDir(), imageSettings);
        this.store = ExecutionStores.create(config, config.settings());
        this.executions = new ExecutionService(new RequestValidator(config),
                CommandPolicy.fromSettings(config.settings()), new RuntimeSelector(registry, config.standardRuntime()),
                images, imageScans, OutputScanner.fromSettings(config.settings()), config.dlpMode(), store,
                Duration.ofSeconds(1));
    }

    public SandboxConfig config() {
        return config;
    }

    public ExecutionService executions() {
        return executions;
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
        List<RuntimeInfo> infos = new ArrayList<>();
        for (SandboxRuntime runtime : registry.all()) {
            RuntimeInfo info = runtime.probe();
            registry.update(info);
            if (info.usable() && testSandboxAllowed()) {
                ExecutionResult smoke = executions.execute(ExecutionRequest.builder().runtime(runtime.name())
                        .image(HostImage.NAME).command("true").limits(new LimitsRequest(30_000L, null, null, null, null)).build());
                if (smoke.status() != ExecutionStatus.COMPLETED || smoke.exitCode() != 0) {
                    String why = smoke.reason() != null ? smoke.reason() : smoke.stderr().strip();
                    info = RuntimeInfo.unusable(info.name(), info.version(),
                            "a test sandbox failed here: " + why, info.levels());
                    registry.update(info);
                }
            }
            infos.add(info);
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
        List<String> names = new ArrayList<>(reaper.reap());
        docker.reapLeftovers().stream().filter(n -> !names.contains(n)).forEach(names::add);
        return names.stream().filter(n -> n.startsWith(SandboxSpec.NAME_PREFIX))
                .map(n -> n.substring(SandboxSpec.NAME_PREFIX.length())).toList();
    }

    /**
     * What a server does when it starts: removes the sandboxes a dead process left, and closes their
     * records as {@code error} with reason "server restarted". With the embedded store (one host), also
     * closes running records that no live process owns (a death before the sandbox existed); with a shared
     * Redis such a record may be another host's, so only reaped ones are closed. Returns the closed ids.
     */
    public List<String> recoverFromCrash() {
        Set<String> dead = new LinkedHashSet<>(reapLeftovers());
        if (!store.health().backend().equals("redis")) {
            Instant settled = Instant.now().minus(ORPHAN_AGE);
            Set<String> active = new HashSet<>();
            executions.active().forEach(a -> active.add(a.executionId()));
            for (ExecutionRecord r : store.running()) {
                if (!active.contains(r.executionId()) && r.startedAt().isBefore(settled)
                        && !reaper.ownedByLiveProcess(SandboxSpec.nameFor(r.executionId()))) {
                    dead.add(r.executionId());
                }
            }
        }
        List<String> closed = new ArrayList<>();
        for (String id : dead) {
            store.find(id).filter(r -> r.status() == ExecutionStatus.RUNNING).ifPresent(r -> {
                store.recordEnd(r.ended(ExecutionResult.notRun(id, ExecutionStatus.ERROR, SERVER_RESTARTED,
                        r.runtime(), r.securityLevel(), r.image(),
                        Duration.between(r.startedAt(), Instant.now()).toMillis(), List.of()), Instant.now()));
                closed.add(id);
            });
        }
        return closed;
    }

    @Override
    public void close() {
        executions.close();
        docker.close();
        store.close();
    }
}
