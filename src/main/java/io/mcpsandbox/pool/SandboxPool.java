package io.mcpsandbox.pool;

import io.mcpsandbox.image.ImageResolver;
import io.mcpsandbox.model.ResourceLimits;
import io.mcpsandbox.model.RootFilesystem;
import io.mcpsandbox.policy.ExecutionPlan;
import io.mcpsandbox.policy.PolicyViolation;
import io.mcpsandbox.runtime.PreparedSandbox;
import io.mcpsandbox.runtime.RunningSandbox;
import io.mcpsandbox.runtime.SandboxRuntime;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.agent.AgentChannel;
import io.mcpsandbox.runtime.agent.AgentLogTail;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Warm pools (docs/pools.md): per {@link PoolKey}, sandboxes started ahead whose agent waits, for a language
 * with its interpreter waiting too. A take hands one out for exactly one execution or session; the caller
 * closes it after, and that close starts its replacement (so that the refill does not compete with the run it
 * served). A miss never waits: the caller starts cold. Refill runs in the background, at most
 * {@code pool.refill-concurrency} starts at once and within {@code pool.memory-budget}; a pool whose starts fail
 * backs off. Sandboxes that died while waiting are found at take time (and by a periodic sweep) and replaced.
 */
public final class SandboxPool implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SandboxPool.class);
    /** How long a pooled sandbox's agent may take to say ready. */
    private static final Duration HANDSHAKE = Duration.ofSeconds(30);
    /** How often dead sandboxes are looked for, memory measured and refill retried. */
    private static final Duration SWEEP = Duration.ofSeconds(2);
    /** What a sandbox not yet measured is assumed to hold, for the memory budget. */
    private static final long FIRST_ESTIMATE = 64L << 20;
    private static final Duration MAX_BACKOFF = Duration.ofSeconds(60);

    /** The plan of a default request of a pool's key: its program (for a language), environment and limits. */
    @FunctionalInterface
    public interface Templates {
        ExecutionPlan plan(PoolKey key) throws PolicyViolation;
    }

    /** Why a request found no sandbox in the pool of its key. */
    public enum Miss {
        /** the pool had none ready (alive) */
        EMPTY,
        /** its limits, environment, working directory or program differ from what the pool starts */
        MISMATCH
    }

    private final PoolSettings settings;
    private final Function<String, Optional<SandboxRuntime>> runtimes;
    private final ImageResolver images;
    private final Templates templates;
    private final Runnable beforeSandbox;
    private final Map<PoolKey, Pool> pools = new LinkedHashMap<>();
    private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "pool-refill");
        t.setDaemon(true);
        return t;
    });
    private final ExecutorService starters;
    private final ExecutorService closers = Executors.newVirtualThreadPerTaskExecutor();
    private final List<Consumer<String>> startListeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** Names of the sandboxes the pool holds: being started, ready, or being removed (not those taken). */
    private final java.util.Set<String> held = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private int filling;
    private boolean closed;
    private boolean started;

    /**
     * @param runtimes      a runtime by name, when it is usable here and allowed by the server's settings
     * @param beforeSandbox runs before a sandbox is made (starts the owner watchdog that reaps after a crash)
     */
    public SandboxPool(PoolSettings settings, Function<String, Optional<SandboxRuntime>> runtimes,
                       ImageResolver images, Templates templates, Runnable beforeSandbox) {
        this.settings = settings;
        this.runtimes = runtimes;
        this.images = images;
        this.templates = templates;
        this.beforeSandbox = beforeSandbox;
        this.starters = Executors.newFixedThreadPool(settings.refillConcurrency(), r -> {
            Thread t = new Thread(r, "pool-start");
            t.setDaemon(true);
            return t;
        });
        if (settings.enabled()) {
            settings.sizes().forEach((key, size) -> pools.put(key, new Pool(key, size)));
        }
    }

    /** A pool that holds nothing: every take misses. */
    public static SandboxPool none() {
        return new SandboxPool(PoolSettings.none(), name -> Optional.empty(), null, key -> {
            throw new PolicyViolation("pool", "none");
        }, () -> { });
    }

    /**
     * Starts filling the pools (a server calls it once its runtimes are verified; a one-shot CLI never does). A
     * pool whose runtime is not usable here or whose key is refused by policy stays empty and says why.
     */
    public void start() {
        synchronized (this) {
            if (started || closed || pools.isEmpty()) {
                return;
            }
            started = true;
        }
        for (Pool pool : pools.values()) {
            try {
                ExecutionPlan template = templates.plan(pool.key);
                List<String> starterArgv = null;
                if (pool.key.language() != null) {
                    WarmStarter starter = WarmStarter.of(pool.key.language()).orElseThrow(() -> new PolicyViolation(
                            "pool.sandboxes", "'" + pool.key.language() + "' has no interpreter a pool can start "
                            + "ahead (python and node have)"));
                    starterArgv = starter.argv(template.command()).orElseThrow(() -> new PolicyViolation(
                            "pool.sandboxes", "the command of '" + pool.key.language() + "' (" + template.command()
                            + ") is not 'interpreter {file}': it cannot be started ahead"));
                }
                synchronized (this) {
                    pool.starterArgv = starterArgv;
                    pool.template = template;
                }
            } catch (PolicyViolation e) {
                synchronized (this) {
                    pool.problem = e.getMessage();
                }
                log.warn("pool {} stays empty: {}", pool.key, e.getMessage());
            }
        }
        scheduler.scheduleWithFixedDelay(this::sweep, SWEEP.toMillis(), SWEEP.toMillis(), TimeUnit.MILLISECONDS);
        kick();
    }

    /**
     * A ready sandbox for {@code plan} (a one-shot execution) on {@code runtime} with root {@code rootfs}: from the
     * pool of its snippet's {@code language} when that pool's interpreter runs exactly this program, else from the
     * plain pool of its runtime and image. Empty when none fits: the caller starts cold.
     *
     * @param language the snippet's language (its canonical name), or null for a command
     */
    public Optional<WarmSandbox> take(ExecutionPlan plan, String runtime, RootFilesystem rootfs, String language) {
        if (language != null) {
            Pool pool = find(runtime, plan.image(), language);
            if (pool != null) {
                Optional<WarmSandbox> warm = pool.take(rootfs, plan.limits(), plan.workDir(), plan);
                if (warm.isPresent()) {
                    return warm;
                }
            }
        }
        Pool plain = find(runtime, plan.image(), null);
        return plain == null ? Optional.empty() : plain.take(rootfs, plan.limits(), plan.workDir(), null);
    }

    /** The pool of this key, or null; a name no pool could have (not a valid key) has none. */
    private Pool find(String runtime, String image, String language) {
        try {
            return pools.get(new PoolKey(runtime, image, language));
        } catch (IllegalArgumentException notAKey) {
            return null;
        }
    }

    /** A ready sandbox with no interpreter for a session on {@code runtime} with this root and these limits. */
    public Optional<WarmSandbox> takeForSession(String runtime, String image, RootFilesystem rootfs,
                                                ResourceLimits limits) {
        Pool plain = find(runtime, image, null);
        return plain == null ? Optional.empty() : plain.take(rootfs, limits, null, null);
    }

    /**
     * A sandbox taken from the pool turned out dead before it ran anything (its agent could not take the files):
     * counted as died while waiting, and removed. The caller starts cold.
     */
    public void failedBeforeUse(WarmSandbox warm) {
        Pool pool = pools.get(warm.key());
        if (pool != null) {
            synchronized (this) {
                pool.died++;
            }
        }
        discard(warm);
    }

    /** What each pool holds and has done, for metrics and status. */
    public List<PoolStatus> status() {
        List<PoolStatus> all = new ArrayList<>();
        for (Pool pool : pools.values()) {
            synchronized (this) {
                all.add(new PoolStatus(pool.key, pool.size, pool.ready.size(), pool.filling, pool.hits,
                        pool.misses.clone(), pool.died, pool.refills, pool.refillNanos, pool.failures,
                        pool.ready.stream().mapToLong(WarmSandbox::memoryBytes).sum(), pool.problem));
            }
        }
        return all;
    }

    /** Hears the name of every sandbox the pool makes, before it starts (an observer: tests look for its traces). */
    public void onSandboxStarted(Consumer<String> listener) {
        startListeners.add(listener);
    }

    /** The names of the sandboxes the pool holds now: being started, ready, or being removed; not those taken. */
    public java.util.Set<String> heldNames() {
        return java.util.Set.copyOf(held);
    }

    /** One pool's status; empty for a key that has no pool. */
    public Optional<PoolStatus> status(PoolKey key) {
        return status().stream().filter(p -> p.key().equals(key)).findFirst();
    }

    /** The pools configured (also those that stay empty), in their order. */
    public List<PoolKey> keys() {
        return List.copyOf(pools.keySet());
    }

    /** Starts sandboxes for the pools below their size, as far as concurrency, the budget and back-off allow. */
    private void kick() {
        List<Pool> toFill = new ArrayList<>();
        synchronized (this) {
            if (closed || !started) {
                return;
            }
            long now = System.nanoTime();
            boolean more = true;
            while (more && filling < settings.refillConcurrency()) {
                more = false;
                // One start per pool per round, so that one big pool does not starve the others.
                for (Pool pool : pools.values()) {
                    if (filling >= settings.refillConcurrency()) {
                        break;
                    }
                    if (pool.template != null && pool.ready.size() + pool.filling < pool.size
                            && now >= pool.retryAtNanos && withinBudget(pool)) {
                        pool.filling++;
                        filling++;
                        toFill.add(pool);
                        more = true;
                    }
                }
            }
        }
        for (Pool pool : toFill) {
            starters.execute(() -> fill(pool));
        }
    }

    /** Whether one more sandbox of {@code pool} fits the memory budget (as measured, and estimated for the new). */
    private boolean withinBudget(Pool pool) {
        long held = 0;
        for (Pool p : pools.values()) {
            held += p.ready.stream().mapToLong(w -> Math.max(w.memoryBytes(), p.estimate)).sum();
            held += (long) p.filling * p.estimate;
        }
        return held + pool.estimate <= settings.memoryBudgetBytes();
    }

    private void fill(Pool pool) {
        long t0 = System.nanoTime();
        WarmSandbox warm = null;
        String failure = null;
        try {
            warm = startOne(pool);
        } catch (Exception e) {
            failure = e.getMessage() == null ? e.toString() : e.getMessage();
        }
        boolean keep;
        synchronized (this) {
            pool.filling--;
            filling--;
            keep = warm != null && !closed;
            if (keep) {
                pool.ready.addLast(warm);
                pool.refills++;
                pool.refillNanos += System.nanoTime() - t0;
                pool.backoff = Duration.ZERO;
                pool.problem = null;
            } else if (failure != null) {
                pool.failures++;
                pool.backoff = pool.backoff.isZero() ? Duration.ofSeconds(1)
                        : min(pool.backoff.multipliedBy(2), MAX_BACKOFF);
                pool.retryAtNanos = System.nanoTime() + pool.backoff.toNanos();
                if (!failure.equals(pool.problem)) {
                    log.warn("pool {}: a sandbox could not be started ahead (retried in {} s): {}", pool.key,
                            pool.backoff.toSeconds(), failure);
                }
                pool.problem = failure;
            }
        }
        if (warm != null && !keep) {
            discard(warm);
        }
        kick();
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    /** Starts one sandbox as the pool's template says, its agent ready and, for a language, its interpreter. */
    private WarmSandbox startOne(Pool pool) throws Exception {
        ExecutionPlan template = pool.template;
        SandboxRuntime runtime = runtimes.apply(pool.key.runtime()).orElseThrow(() -> new IllegalStateException(
                "runtime " + pool.key.runtime() + " is not usable here"));
        RootFilesystem rootfs = images.resolveImage(template.image()).rootfs();
        beforeSandbox.run();
        String name = SandboxSpec.nameFor(UUID.randomUUID().toString());
        startListeners.forEach(l -> l.accept(name));
        held.add(name);
        PreparedSandbox prepared;
        try {
            prepared = runtime.prepare(new SandboxSpec(name, rootfs, template.limits(), Map.of()));
        } catch (Exception e) {
            held.remove(name);
            throw e;
        }
        AgentChannel channel = null;
        try {
            RunningSandbox running = prepared.start();
            AgentLogTail agentLog = AgentLogTail.follow(running.agentLog(), name);
            try {
                channel = AgentChannel.open(name, running.fromAgent(), running.toAgent(), HANDSHAKE);
            } catch (java.io.IOException e) {
                throw new java.io.IOException("its agent did not start: " + e.getMessage() + agentLog.describe(), e);
            }
            WaitingInterpreter interpreter = pool.starterArgv == null ? null
                    : WaitingInterpreter.start(channel, pool.starterArgv, template);
            if (interpreter != null) {
                interpreter.awaitLoaded(HANDSHAKE); // ready means loaded, not merely started
            }
            return new WarmSandbox(pool.key, prepared, running, channel, agentLog, rootfs, template.limits(),
                    interpreter, this::kick);
        } catch (Exception e) {
            if (channel != null) {
                channel.close();
            }
            prepared.close();
            held.remove(name);
            throw e;
        }
    }

    /** Drops dead sandboxes, measures the memory of the living, and refills. */
    private void sweep() {
        List<WarmSandbox> dead = new ArrayList<>();
        List<WarmSandbox> living = new ArrayList<>();
        synchronized (this) {
            if (closed) {
                return;
            }
            for (Pool pool : pools.values()) {
                pool.ready.removeIf(w -> {
                    if (!w.alive()) {
                        dead.add(w);
                        pool.died++;
                        return true;
                    }
                    living.add(w);
                    return false;
                });
            }
        }
        dead.forEach(this::discard);
        for (WarmSandbox w : living) {
            try {
                w.measureMemory();
            } catch (RuntimeException e) {
                // its cgroup is gone: the next sweep finds it dead
            }
        }
        synchronized (this) {
            for (Pool pool : pools.values()) {
                long measured = pool.ready.stream().mapToLong(WarmSandbox::memoryBytes).max().orElse(0);
                if (measured > 0) {
                    pool.estimate = measured;
                }
            }
        }
        kick();
    }

    private void discard(WarmSandbox warm) {
        Runnable close = () -> {
            try {
                warm.close();
            } finally {
                held.remove(warm.name());
            }
        };
        try {
            closers.execute(close);
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            close.run(); // the pool is closing: removed here rather than left behind
        }
    }

    /** Stops refilling and removes every ready sandbox; sandboxes already taken are their users' to close. */
    @Override
    public void close() {
        List<WarmSandbox> ready = new ArrayList<>();
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            pools.values().forEach(p -> {
                ready.addAll(p.ready);
                p.ready.clear();
            });
        }
        scheduler.shutdownNow();
        starters.shutdown();
        ready.forEach(this::discard);
        try {
            // Starts under way end (their sandboxes are closed by fill, since the pool is closed), then closes.
            starters.awaitTermination(60, TimeUnit.SECONDS);
            closers.shutdown();
            closers.awaitTermination(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** One pool's state; guarded by the SandboxPool's lock. */
    private final class Pool {
        final PoolKey key;
        final int size;
        final ArrayDeque<WarmSandbox> ready = new ArrayDeque<>();
        ExecutionPlan template;
        List<String> starterArgv;
        int filling;
        long hits;
        final long[] misses = new long[Miss.values().length];
        long died;
        long refills;
        long refillNanos;
        long failures;
        long estimate = FIRST_ESTIMATE;
        Duration backoff = Duration.ZERO;
        long retryAtNanos;
        String problem;

        Pool(PoolKey key, int size) {
            this.key = key;
            this.size = size;
        }

        /**
         * The oldest living ready sandbox, when this pool's sandboxes fit: the same root, the same sandbox-wide
         * limits, the same working directory (null: any, for a session), and for a language pool the very
         * program its interpreter waits to run ({@code plan}).
         */
        Optional<WarmSandbox> take(RootFilesystem rootfs, ResourceLimits limits, String workDir, ExecutionPlan plan) {
            List<WarmSandbox> dead = new ArrayList<>();
            Optional<WarmSandbox> taken = Optional.empty();
            synchronized (SandboxPool.this) {
                if (template == null) {
                    return Optional.empty();
                }
                if (!sameSandbox(template.limits(), limits) || (workDir != null && !workDir.equals(template.workDir()))
                        || (key.language() != null && (plan == null || !interpreterServes(plan)))) {
                    misses[Miss.MISMATCH.ordinal()]++;
                    return Optional.empty();
                }
                while (!ready.isEmpty() && taken.isEmpty()) {
                    WarmSandbox w = ready.pollFirst();
                    if (!w.alive() || !w.rootfs().equals(rootfs)) {
                        // Dead while waiting, or made from an image that has changed since.
                        dead.add(w);
                        died++;
                    } else {
                        taken = Optional.of(w);
                    }
                }
                if (taken.isPresent()) {
                    hits++;
                } else {
                    misses[Miss.EMPTY.ordinal()]++;
                }
            }
            dead.forEach(SandboxPool.this::discard);
            taken.ifPresent(w -> {
                w.taken();
                held.remove(w.name());
            });
            // No refill now: starting a sandbox takes the CPU the execution it serves needs. It is refilled when
            // that sandbox is closed (WarmSandbox's afterClose), or by the next sweep.
            return taken;
        }

        private boolean interpreterServes(ExecutionPlan plan) {
            return plan.command().equals(template.command()) && plan.env().equals(template.env());
        }
    }

    /** Whether two limits make the same sandbox: all but the timeout and output cap (the host's, per execution). */
    static boolean sameSandbox(ResourceLimits a, ResourceLimits b) {
        return a.memoryBytes() == b.memoryBytes() && a.cpus() == b.cpus() && a.pids() == b.pids()
                && a.tmpBytes() == b.tmpBytes() && a.openFiles() == b.openFiles();
    }
}
