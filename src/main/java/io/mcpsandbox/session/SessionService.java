package io.mcpsandbox.session;

import io.mcpsandbox.host.CpuPressure;
import io.mcpsandbox.image.ImageResolver;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.SessionCloseReason;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.model.SessionRequest;
import io.mcpsandbox.network.EgressPolicy;
import io.mcpsandbox.network.NetworkAccess;
import io.mcpsandbox.network.SandboxEgress;
import io.mcpsandbox.policy.ExecutionPlan;
import io.mcpsandbox.policy.PolicyViolation;
import io.mcpsandbox.policy.RequestValidator;
import io.mcpsandbox.policy.RuntimeSelector;
import io.mcpsandbox.pool.SandboxPool;
import io.mcpsandbox.pool.WarmSandbox;
import io.mcpsandbox.record.ExecutionStore;
import io.mcpsandbox.runtime.PreparedSandbox;
import io.mcpsandbox.runtime.RunningSandbox;
import io.mcpsandbox.runtime.SandboxException;
import io.mcpsandbox.runtime.SandboxRuntime;
import io.mcpsandbox.runtime.SandboxSpec;
import io.mcpsandbox.runtime.WritableRoot;
import io.mcpsandbox.runtime.agent.AgentChannel;
import io.mcpsandbox.runtime.agent.AgentLogTail;
import io.mcpsandbox.scan.ImageVulnerabilityPolicy;
import io.mcpsandbox.runtime.agent.DirectoryListing;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sessions this server holds: creates them (policy, image, runtime as for an execution, then a sandbox
 * whose agent waits for programs), hands out leases to run in them, closes them (on request, when idle, at
 * the end of their lifetime, when their agent fails, at shutdown) and records each step. A session is its
 * owner's alone: for anyone else it does not exist.
 */
public final class SessionService implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SessionService.class);
    /** How long a new sandbox's agent may take to say ready (runsc on a loaded host takes seconds). */
    private static final Duration HANDSHAKE = Duration.ofSeconds(60);
    private static final Duration EXPIRY_TICK = Duration.ofSeconds(1);
    /** How long one file operation may take (a slow agent is the sandbox's problem, not a held request's). */
    private static final Duration FILE_TIMEOUT = Duration.ofSeconds(60);
    /** Most open sessions a list reads from the shared records (other servers' sessions). */
    private static final int MAX_LISTED = 1000;

    /** A session about to end without its owner asking: sent once per session and cause, ahead of time. */
    public record ExpiryWarning(String userId, String sessionId, SessionCloseReason reason, Instant at) {
    }

    /**
     * Where sessions live when several servers share the records (a cluster: cluster.ClusterSessions). This
     * service tells it of every session it opens and closes, and asks it about sessions it does not hold.
     * Implementations answer quickly and never throw for an unreachable backend (they log, and say so in the
     * {@link Location}).
     */
    public interface Directory {
        /** This server opened {@code record} (saved already): other servers are to find it here. */
        void opened(SessionRecord record);

        /** A session this server held has closed (its record saved). */
        void closed(SessionRecord record);

        /**
         * Where a session this server does not hold lives. One whose holder is lost is closed in the records
         * ({@link SessionCloseReason#NODE_LOST}) before this answers {@link Location#HERE}: the records say the rest.
         */
        Location locate(String sessionId);

        /**
         * Where cluster node {@code nodeId} serves (an execution's record names the node that runs it):
         * {@link Location#HERE} for this node, else its advertised URL from its signed entry when it is live, else
         * unavailable (unknown, lost, not signed, Redis unreachable: why).
         */
        default Location locateNode(String nodeId) {
            return Location.HERE;
        }

        /** The header value that marks a request this server forwards to another ({@code target}: path?query). */
        String routedHeader(String method, String target);

        /** Whether {@code header} marks this request as forwarded by another server of the cluster. */
        boolean isRouted(String header, String method, String target);
    }

    /**
     * Where a session lives: here (or nowhere: the records answer), at another server ({@code nodeId} at
     * {@code url}), or unknown for now ({@code unavailable} says why: Redis unreachable, say).
     */
    public record Location(String nodeId, String url, String unavailable) {
        public static final Location HERE = new Location(null, null, null);

        public static Location remote(String nodeId, String url) {
            return new Location(nodeId, url, null);
        }

        public static Location unavailable(String why) {
            return new Location(null, null, why);
        }

        public boolean here() {
            return nodeId == null && unavailable == null;
        }

        public boolean remote() {
            return nodeId != null && unavailable == null;
        }
    }

    private final SessionSettings settings;
    private final SpareGate spareGate;
    private final RequestValidator validator;
    private final RuntimeSelector selector;
    private final ImageResolver images;
    private final ImageVulnerabilityPolicy imageScans;
    private final ExecutionStore store;
    private final Clock clock;
    /** Runs before a sandbox exists (starts the owner watchdog, which kills it should this JVM die). */
    private final Runnable beforeSandbox;
    private final SandboxPool pool;
    private final NetworkAccess network;
    private final String serverId = ServerIdentity.current();
    private final Map<String, LiveSession> live = new ConcurrentHashMap<>();
    private volatile java.util.function.BooleanSupplier acceptingNew = () -> true;
    private volatile java.util.function.Supplier<String> notAcceptingWhy = () -> "not accepting new sessions";
    /** Sessions being created, by user: they count against the caps before they exist. */
    private final Map<String, Integer> opening = new ConcurrentHashMap<>();
    private final List<Consumer<ExpiryWarning>> warningListeners = new CopyOnWriteArrayList<>();
    private volatile Directory directory;
    private final ExecutorService teardowns = Executors.newVirtualThreadPerTaskExecutor();
    private final java.util.Set<java.util.concurrent.Future<?>> pendingTeardowns = ConcurrentHashMap.newKeySet();
    private final ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "session-expiry");
        t.setDaemon(true);
        return t;
    });

    public SessionService(SessionSettings settings, RequestValidator validator, RuntimeSelector selector,
                          ImageResolver images, ImageVulnerabilityPolicy imageScans, ExecutionStore store,
                          Clock clock, Runnable beforeSandbox) {
        this(settings, validator, selector, images, imageScans, store, clock, beforeSandbox, SandboxPool.none(),
                NetworkAccess.off());
    }

    /**
     * @param pool    sandboxes started ahead: a new session with a read-only root takes one when one fits
     * @param network whether a session may have network, and its sandbox's egress (docs/network.md)
     */
    public SessionService(SessionSettings settings, RequestValidator validator, RuntimeSelector selector,
                          ImageResolver images, ImageVulnerabilityPolicy imageScans, ExecutionStore store,
                          Clock clock, Runnable beforeSandbox, SandboxPool pool, NetworkAccess network) {
        this.pool = pool;
        this.network = network;
        this.beforeSandbox = beforeSandbox;
        this.settings = settings;
        this.spareGate = new SpareGate(settings.spareInterpreters(), settings.spareMaxCpuPressure(),
                CpuPressure.host());
        this.validator = validator;
        this.selector = selector;
        this.images = images;
        this.imageScans = imageScans;
        this.store = store;
        this.clock = clock;
        ticker.scheduleWithFixedDelay(this::expire, EXPIRY_TICK.toMillis(), EXPIRY_TICK.toMillis(),
                TimeUnit.MILLISECONDS);
    }

    /**
     * From now on {@link #create} refuses new sessions while {@code accepting} says false, with {@code why} as the
     * reason (a draining cluster node); open sessions go on.
     */
    public void acceptNewSessionsWhile(java.util.function.BooleanSupplier accepting,
                                       java.util.function.Supplier<String> why) {
        this.notAcceptingWhy = why;
        this.acceptingNew = accepting;
    }

    public SessionSettings settings() {
        return settings;
    }

    /**
     * From now on sessions are found through {@code directory} (a cluster node): each one opened and closed here is
     * told to it, and lists include the open sessions other servers hold (from the shared records).
     */
    public void useDirectory(Directory directory) {
        this.directory = directory;
    }

    /** Where sessions not held here live, in a cluster. */
    public Optional<Directory> directory() {
        return Optional.ofNullable(directory);
    }

    /** Whether this server holds the session (open, in its sandbox here); says nothing of whose it is. */
    public boolean holds(String sessionId) {
        return sessionId != null && live.containsKey(sessionId);
    }

    /** Hears of sessions about to be closed for idleness or at the end of their lifetime. */
    public void onExpiryWarning(Consumer<ExpiryWarning> listener) {
        warningListeners.add(listener);
    }

    /**
     * Opens a session for {@code request.userId()}: checked like an execution's request (image, level,
     * runtime, limits, env, files), then its sandbox started and its agent ready, then recorded.
     *
     * @throws PolicyViolation         the request is invalid or refused (the field and why)
     * @throws SessionLimitException   the user or the server holds as many sessions as allowed
     * @throws SandboxException        the sandbox could not be started
     */
    public SessionRecord create(SessionRequest request) throws PolicyViolation, SessionLimitException,
            SandboxException {
        if (!acceptingNew.getAsBoolean()) {
            throw new SessionLimitException(notAcceptingWhy.get(), true);
        }
        String user = request.userId();
        reserve(user);
        try {
            return open(request);
        } finally {
            opening.computeIfPresent(user, (u, n) -> n <= 1 ? null : n - 1);
        }
    }

    private SessionRecord open(SessionRequest request) throws PolicyViolation, SandboxException {
        Duration idle = seconds("idleTimeoutSeconds", request.idleTimeoutSeconds(), settings.idleTimeout(), true);
        Duration lifetime = seconds("lifetimeSeconds", request.lifetimeSeconds(), settings.lifetime(), false);
        String rootfs = request.rootfs() == null ? SessionRecord.READ_ONLY : request.rootfs();
        if (!rootfs.equals(SessionRecord.READ_ONLY) && !rootfs.equals(SessionRecord.WRITABLE)) {
            throw new PolicyViolation("rootfs", "must be 'read-only' or 'writable'");
        }
        if (rootfs.equals(SessionRecord.WRITABLE) && WritableRoot.unsupportedReason().isPresent()) {
            throw new PolicyViolation("rootfs", "'writable' is not available here: "
                    + WritableRoot.unsupportedReason().get());
        }
        // A writable root is capped by session.rootfs-bytes (WritableRoot); read-only needs no cap.
        long rootfsBytes = rootfs.equals(SessionRecord.WRITABLE) ? settings.rootfsBytes() : 0;
        // Checked as an execution would be, with a program that never runs: the same fields, the same limits.
        ExecutionPlan plan = validator.validate(ExecutionRequest.builder().command("true").image(request.image())
                .runtime(request.runtime()).securityLevel(request.securityLevel()).limits(request.limits())
                .env(request.env()).files(request.files()).userId(request.userId()).build());
        Optional<EgressPolicy> egressPolicy = network.policyFor(request.userId(), request.network(),
                request.networkAllow());
        Map<String, String> env = egressPolicy.isPresent() ? SandboxEgress.withProxyEnv(plan.env()) : plan.env();
        SandboxRuntime runtime = selector.select(plan);
        ImageResolver.Resolved image;
        try {
            image = images.resolveImage(plan.image());
        } catch (ImageResolver.UnknownImageException e) {
            throw new PolicyViolation("image", e.getMessage());
        } catch (IOException e) {
            throw new SandboxException("cannot resolve image " + plan.image() + ": " + e.getMessage(), e);
        }
        Optional<String> refusal = image.digest()
                .flatMap(d -> imageScans.check(plan.image(), d, image.rootfs().rootDir()).refusal());
        if (refusal.isPresent()) {
            throw new PolicyViolation("image", refusal.get());
        }
        String id = UUID.randomUUID().toString();
        beforeSandbox.run();
        Optional<WarmSandbox> warm = rootfsBytes == 0 && egressPolicy.isEmpty() ? takeWarm(runtime, plan, image)
                : Optional.empty();
        String name = warm.map(WarmSandbox::name).orElse(SandboxSpec.nameFor(id));
        PreparedSandbox prepared = warm.isPresent() ? warm.get().prepared()
                : runtime.prepare(new SandboxSpec(name, image.rootfs(), plan.limits(), plan.workspaceFiles(),
                        rootfsBytes));
        AgentChannel channel = warm.map(WarmSandbox::channel).orElse(null);
        SandboxEgress egress = null;
        try {
            RunningSandbox running = warm.isPresent() ? warm.get().running() : prepared.start();
            AgentLogTail agentLog = warm.isPresent() ? warm.get().agentLog()
                    : AgentLogTail.follow(running.agentLog(), name);
            if (channel == null) {
                try {
                    channel = AgentChannel.open(name, running.fromAgent(), running.toAgent(), HANDSHAKE);
                } catch (IOException e) {
                    throw new SandboxException("the session's sandbox did not start: " + e.getMessage()
                            + agentLog.describe(), e);
                }
            }
            if (egressPolicy.isPresent()) {
                egress = network.open(name, egressPolicy.get());
                try {
                    egress.attach(channel, HANDSHAKE);
                } catch (IOException | java.util.concurrent.TimeoutException e) {
                    throw new SandboxException("network: the session's agent could not open its proxy port: "
                            + e.getMessage() + agentLog.describe(), e);
                }
            }
            Instant now = clock.instant();
            SessionRecord record = SessionRecord.opened(id, request.userId(), plan.image(), runtime.name(),
                    plan.securityLevel(), rootfs, plan.limits(),
                    List.copyOf(request.env().keySet()), now, now.plus(lifetime), idle.toSeconds(), name, serverId);
            store.saveSession(record); // nothing is open without its record
            live.put(id, new LiveSession(record, prepared, running, channel, agentLog, env, egress));
            Directory dir = directory;
            if (dir != null) {
                try {
                    dir.opened(record);
                } catch (RuntimeException e) {
                    log.warn("session {}: the cluster could not be told it is here: {}", id, e.getMessage());
                }
            }
            log.info("session opened: id={} user={} runtime={} image={} pooled={}", id, request.userId(),
                    runtime.name(), plan.image(), warm.isPresent());
            return record;
        } catch (SandboxException | RuntimeException e) {
            if (egress != null) {
                egress.close();
            }
            if (channel != null) {
                channel.close();
            }
            prepared.close();
            throw e;
        }
    }

    /**
     * A sandbox from the warm pool for a new session (read-only root), its files placed through its agent; empty
     * when none fits or it cannot take the files (then dropped: the session starts cold).
     */
    private Optional<WarmSandbox> takeWarm(SandboxRuntime runtime, ExecutionPlan plan, ImageResolver.Resolved image) {
        Optional<WarmSandbox> warm = pool.takeForSession(runtime.name(), plan.image(), image.rootfs(), plan.limits());
        if (warm.isPresent()) {
            try {
                SessionFiles.write(warm.get().channel(), plan.workspaceFiles(), HANDSHAKE);
            } catch (IOException | java.util.concurrent.TimeoutException | RuntimeException e) {
                log.info("a pooled sandbox could not take the session's files ({}); starting cold", e.getMessage());
                pool.failedBeforeUse(warm.get());
                return Optional.empty();
            }
        }
        return warm;
    }

    private Duration seconds(String field, Long requested, Duration fallback, boolean zeroAllowed)
            throws PolicyViolation {
        if (requested == null) {
            return fallback;
        }
        long max = settings.maxLifetime().toSeconds();
        if (requested < (zeroAllowed ? 0 : 1) || requested > max) {
            throw new PolicyViolation(field, "must be between " + (zeroAllowed ? 0 : 1) + " and " + max
                    + " seconds (session.max-lifetime); got " + requested);
        }
        return Duration.ofSeconds(requested);
    }

    private void reserve(String user) throws SessionLimitException {
        synchronized (opening) {
            long mine = live.values().stream().filter(s -> s.userId().equals(user)).count()
                    + opening.getOrDefault(user, 0);
            long all = live.size() + opening.values().stream().mapToInt(Integer::intValue).sum();
            if (mine >= settings.maxPerUser()) {
                throw new SessionLimitException("you hold " + mine + " open sessions, the most allowed per user ("
                        + settings.maxPerUser() + ", session.max-per-user); close one first");
            }
            if (all >= settings.maxOpen()) {
                throw new SessionLimitException("this server holds " + all + " open sessions, its maximum ("
                        + settings.maxOpen() + ", session.max-open); try again later");
            }
            opening.merge(user, 1, Integer::sum);
        }
    }

    /** The user's open sessions, newest first; in a cluster also those other servers hold. */
    public List<SessionRecord> list(String userId) {
        return withElsewhere(userId, live.values().stream().filter(s -> s.userId().equals(userId))
                .map(LiveSession::record).toList());
    }

    /**
     * {@code here} plus, with a directory, the open sessions of {@code userIdOrNull} (null: every user's) that the
     * shared records hold for other servers; newest first. The records failing costs only the others' sessions.
     */
    private List<SessionRecord> withElsewhere(String userIdOrNull, List<SessionRecord> here) {
        List<SessionRecord> all = new ArrayList<>(here);
        if (directory != null) {
            try {
                for (SessionRecord r : store.listSessions(userIdOrNull, true, MAX_LISTED)) {
                    if (r.isOpen() && !live.containsKey(r.sessionId())
                            && (userIdOrNull == null || userIdOrNull.equals(r.userId()))) {
                        all.add(r);
                    }
                }
            } catch (RuntimeException e) {
                log.warn("the other servers' sessions cannot be listed: {}", e.getMessage());
            }
        }
        all.sort(Comparator.comparing(SessionRecord::createdAt).reversed());
        return List.copyOf(all);
    }

    /**
     * Every user's open sessions, or one user's ({@code userIdOrNull}), newest first: what an admin lists. The
     * caller decides who may see them; this service does not know admins.
     */
    public List<SessionRecord> listAll(String userIdOrNull) {
        return userIdOrNull != null ? list(userIdOrNull)
                : withElsewhere(null, live.values().stream().map(LiveSession::record).toList());
    }

    /**
     * Any user's session, by id alone: what an admin may look at (never use it, change it or close it).
     *
     * @throws SessionUnavailableException unknown (not found), or closed (gone, with why)
     */
    public SessionRecord inspect(String sessionId) throws SessionUnavailableException {
        LiveSession session = sessionId == null ? null : live.get(sessionId);
        if (session != null) {
            return require(session.userId(), sessionId).record();
        }
        Optional<SessionRecord> stored = sessionId == null ? Optional.empty() : findStored(sessionId);
        if (stored.isPresent() && stored.get().isOpen()) {
            stored = elsewhere(stored.get());
        }
        if (stored.isPresent() && !stored.get().isOpen()) {
            throw gone(stored.get());
        }
        throw SessionUnavailableException.notFound(sessionId);
    }

    /**
     * An open record of a session this server does not hold, in a cluster: the record again when its holder was
     * lost (now closed, {@code node_lost}), or else it is not here to use.
     *
     * @throws SessionUnavailableException another node holds it (it names that node), or where is unknown now
     */
    private Optional<SessionRecord> elsewhere(SessionRecord open) throws SessionUnavailableException {
        Directory dir = directory;
        if (dir == null) {
            return Optional.of(open);
        }
        Location where = dir.locate(open.sessionId());
        if (where.remote()) {
            throw SessionUnavailableException.elsewhere(open.sessionId(), "it is held by cluster node "
                    + where.nodeId() + " (" + where.url() + "): send the call to that node (the REST routes under "
                    + "/v1/sessions/{id} are forwarded to it from any node)");
        }
        if (!where.here()) {
            throw SessionUnavailableException.elsewhere(open.sessionId(), "it is held by another cluster node, "
                    + "which cannot be found now: " + where.unavailable());
        }
        return findStored(open.sessionId());
    }

    /**
     * One of the user's sessions.
     *
     * @throws SessionUnavailableException unknown or another's (not found), or closed (gone, with why)
     */
    public SessionRecord show(String userId, String sessionId) throws SessionUnavailableException {
        return require(userId, sessionId).record();
    }

    /** Closes one of the user's sessions on request; closing a closed one says it is gone. */
    public SessionRecord close(String userId, String sessionId) throws SessionUnavailableException {
        LiveSession session = require(userId, sessionId);
        return closeSession(session, SessionCloseReason.CLOSED, "closed by its owner");
    }

    /** Takes a hold on the user's session to run one execution in it (counted); close the lease when done. */
    public SessionLease lease(String userId, String sessionId) throws SessionUnavailableException {
        return take(userId, sessionId, true);
    }

    /** A hold for file work: activity (it moves the idle end), not an execution. */
    private SessionLease take(String userId, String sessionId, boolean execution)
            throws SessionUnavailableException {
        LiveSession session = require(userId, sessionId);
        session.executionStarted();
        Instant now = clock.instant();
        SpareInterpreter spare;
        boolean alone;
        synchronized (session) {
            if (session.isClosing()) {
                session.executionEnded();
                throw gone(session.record());
            }
            session.update(execution ? session.record().executed(now) : session.record().touched(now));
            session.resetIdleWarning();
            spare = session.takeSpare();
            alone = session.activeExecutions() == 1;
        }
        // Only an execution that finds nothing else running may use the spare: file work or another call may
        // change what the spare's start saw.
        if (spare != null && !(execution && alone)) {
            spare.discard();
            spare = null;
        }
        save(session);
        return new SessionLease(this, session, spare);
    }

    /**
     * Writes {@code content} (at most {@code maxBytes}) to {@code path} below /workspace in the user's session,
     * making missing parent directories, replacing a file there. Counts as activity.
     */
    public void writeFile(String userId, String sessionId, String path, InputStream content, long maxBytes)
            throws SessionUnavailableException, SessionFileException, IOException {
        String checked = SessionFiles.check("path", path, true, false);
        long cap = Math.min(maxBytes, settings.maxFileBytes());
        try {
            onAgent(userId, sessionId, "writing " + checked, channel -> {
                channel.writeFile(checked, SessionFiles.FILE_MODE | AgentChannel.MAKE_PARENTS, content, cap,
                        FILE_TIMEOUT);
                return null;
            });
        } catch (SessionFileException e) {
            throw e.kind() == SessionFileException.Kind.TOO_LARGE && cap < maxBytes
                    ? new SessionFileException(SessionFileException.Kind.TOO_LARGE, "path: larger than " + cap
                    + " bytes (session.max-file-bytes)") : e;
        }
    }

    /**
     * Copies the regular file {@code path} (below /workspace or /tmp) of the user's session into {@code sink},
     * at most {@code maxBytes} of it.
     *
     * @return whether the file is longer than what was copied
     */
    public boolean readFile(String userId, String sessionId, String path, long maxBytes, OutputStream sink)
            throws SessionUnavailableException, SessionFileException, IOException {
        String checked = SessionFiles.check("path", path, false, false);
        return onAgent(userId, sessionId, "reading " + checked, channel -> channel.readFile(checked,
                Math.min(maxBytes, settings.maxFileBytes()), sink, FILE_TIMEOUT));
    }

    /** The entries of directory {@code dir} (below /workspace or /tmp, or either itself), at most 10,000. */
    public DirectoryListing listFiles(String userId, String sessionId, String dir)
            throws SessionUnavailableException, SessionFileException, IOException {
        String checked = SessionFiles.check("dir", dir, false, true);
        return onAgent(userId, sessionId, "listing " + checked,
                channel -> channel.listDirectory(checked, SessionFiles.MAX_LIST_ENTRIES, FILE_TIMEOUT));
    }

    /** Deletes a file, a link (never its target) or an empty directory below /workspace. */
    public void deleteFile(String userId, String sessionId, String path)
            throws SessionUnavailableException, SessionFileException, IOException {
        String checked = SessionFiles.check("path", path, true, false);
        onAgent(userId, sessionId, "deleting " + checked, channel -> {
            channel.deleteFile(checked, FILE_TIMEOUT);
            return null;
        });
    }

    /** One file operation of the agent's, under a hold on the session (activity, not an execution). */
    private interface FileWork<T> {
        T run(AgentChannel channel) throws IOException, TimeoutException;
    }

    /** Runs {@code work} in the user's session; the agent's refusals become the session's (404, 413, 422). */
    private <T> T onAgent(String userId, String sessionId, String what, FileWork<T> work)
            throws SessionUnavailableException, SessionFileException, IOException {
        try (SessionLease lease = take(userId, sessionId, false)) {
            return work.run(lease.channel());
        } catch (TimeoutException e) {
            throw new IOException("the session's agent did not finish " + what + " in time");
        } catch (IOException e) {
            SessionFileException refused = SessionFiles.refusal(e);
            if (refused != null) {
                throw refused;
            }
            throw e;
        }
    }

    /**
     * Ends a hold; {@code next} is the shape of the snippet it ran (null for other work): after the second in a
     * row, a spare interpreter of that shape is started once nothing runs (while the host's CPUs have time for it).
     */
    void release(LiveSession session, SpareInterpreter.Shape next) {
        session.executionEnded();
        synchronized (session) {
            if (!session.isClosing()) {
                session.update(session.record().touched(clock.instant()));
            }
        }
        if (session.ranAgain(next) && spareGate.open()) {
            session.startSpare(next);
        }
        save(session);
    }

    void fail(LiveSession session, String why) {
        closeSession(session, SessionCloseReason.FAILED, why);
    }

    private LiveSession require(String userId, String sessionId) throws SessionUnavailableException {
        LiveSession session = sessionId == null ? null : live.get(sessionId);
        if (session != null && session.userId().equals(userId)) {
            if (session.isClosing()) {
                throw gone(session.record());
            }
            return session;
        }
        Optional<SessionRecord> stored = sessionId == null ? Optional.empty() : findStored(sessionId);
        if (stored.isPresent() && stored.get().userId().equals(userId) && stored.get().isOpen()) {
            stored = elsewhere(stored.get());
        }
        if (stored.isPresent() && stored.get().userId().equals(userId) && !stored.get().isOpen()) {
            throw gone(stored.get());
        }
        throw SessionUnavailableException.notFound(sessionId);
    }

    private Optional<SessionRecord> findStored(String sessionId) {
        try {
            return store.findSession(sessionId);
        } catch (RuntimeException e) {
            log.warn("session {}: its record cannot be read: {}", sessionId, e.getMessage());
            return Optional.empty();
        }
    }

    private static SessionUnavailableException gone(SessionRecord record) {
        return SessionUnavailableException.gone(record.sessionId(),
                record.closeReason() != null ? record.closeReason() : SessionCloseReason.CLOSED, record.closeDetail());
    }

    /** Closes once: the channel (the agent kills everything and exits), the sandbox (in the background), the record. */
    private SessionRecord closeSession(LiveSession session, SessionCloseReason reason, String detail) {
        if (!session.startClosing()) {
            return session.record();
        }
        SessionRecord closed;
        synchronized (session) {
            closed = session.record().closed(reason, detail, clock.instant());
            session.update(closed);
        }
        live.remove(session.id(), session);
        SpareInterpreter spare = session.takeSpare();
        if (spare != null) {
            spare.discard();
        }
        session.interpreters().close();
        session.channel().close();
        session.egress().ifPresent(SandboxEgress::close);
        java.util.concurrent.Future<?> teardown = teardowns.submit(() -> session.prepared().close());
        pendingTeardowns.add(teardown);
        save(session);
        Directory dir = directory;
        if (dir != null) {
            try {
                dir.closed(closed);
            } catch (RuntimeException e) {
                log.warn("session {}: the cluster could not be told it closed: {}", session.id(), e.getMessage());
            }
        }
        log.info("session closed: id={} reason={} detail={}", session.id(), reason.wireName(), detail);
        return closed;
    }

    private void save(LiveSession session) {
        try {
            store.saveSession(session.record());
        } catch (RuntimeException e) {
            log.error("session {}: its record could not be written: {}", session.id(), e.getMessage());
        }
    }

    /** Closes what is past its lifetime or idle end; warns ahead of both. */
    private void expire() {
        try {
            Instant now = clock.instant();
            for (LiveSession session : List.copyOf(live.values())) {
                SessionRecord r = session.record();
                if (!now.isBefore(r.expiresAt())) {
                    closeSession(session, SessionCloseReason.EXPIRED, "its lifetime ended at " + r.expiresAt());
                    continue;
                }
                Instant idleEnd = r.idleExpiresAt();
                boolean busy = session.activeExecutions() > 0;
                if (idleEnd != null && !busy && !now.isBefore(idleEnd)) {
                    closeSession(session, SessionCloseReason.IDLE, "nothing ran in it for "
                            + r.idleTimeoutSeconds() + " s");
                    continue;
                }
                if (!session.channel().endCause().isEmpty()) {
                    closeSession(session, SessionCloseReason.FAILED, "its sandbox's agent is gone ("
                            + session.channel().endCause().get().getMessage() + ")" + session.agentLog().describe());
                    continue;
                }
                Instant warnFrom = now.plus(settings.expiryWarning());
                if (!warnFrom.isBefore(r.expiresAt()) && session.warnLifetimeOnce()) {
                    warn(r, SessionCloseReason.EXPIRED, r.expiresAt());
                } else if (idleEnd != null && !busy && !warnFrom.isBefore(idleEnd) && session.warnIdleOnce()) {
                    warn(r, SessionCloseReason.IDLE, idleEnd);
                }
            }
        } catch (RuntimeException e) {
            log.warn("session expiry check failed: {}", e.toString());
        }
    }

    private void warn(SessionRecord r, SessionCloseReason reason, Instant at) {
        ExpiryWarning warning = new ExpiryWarning(r.userId(), r.sessionId(), reason, at);
        for (Consumer<ExpiryWarning> listener : warningListeners) {
            try {
                listener.accept(warning);
            } catch (RuntimeException e) {
                log.debug("an expiry listener failed: {}", e.toString());
            }
        }
    }

    /**
     * After a start: open sessions in the store whose server is gone cannot be taken back (their agent ended
     * with its channel, and the crash reaper removes their sandboxes), so they are closed with that reason.
     * Sessions of another live server sharing the store, and of servers on other hosts, are left alone.
     *
     * @return the ids closed
     */
    public List<String> closeOrphans() {
        List<String> closed = new ArrayList<>();
        for (SessionRecord r : store.openSessions()) {
            // Another host's server is not judged here (cluster mode: the dead-node sweep closes its sessions).
            if (live.containsKey(r.sessionId()) || !ServerIdentity.onThisHost(r.serverId())
                    || ServerIdentity.isAlive(r.serverId())) {
                continue;
            }
            store.saveSession(r.closed(SessionCloseReason.SERVER_RESTART, "the server that held it stopped; "
                    + "its sandbox ended with it", clock.instant()));
            closed.add(r.sessionId());
        }
        if (!closed.isEmpty()) {
            log.warn("closed {} session(s) left open by a server that stopped: {}", closed.size(), closed);
        }
        return closed;
    }

    /** Waits until every closed session's sandbox is removed; false if some still were after {@code timeout}. */
    public boolean awaitTeardowns(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (java.util.concurrent.Future<?> f : List.copyOf(pendingTeardowns)) {
            try {
                f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                return false;
            } catch (java.util.concurrent.ExecutionException e) {
                log.warn("a session's sandbox teardown failed: {}", e.getCause().toString());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
            pendingTeardowns.remove(f);
        }
        return true;
    }

    /** Open sessions on this server. */
    public int openCount() {
        return live.size();
    }

    /** Closes every session (the server shuts down) and waits a little for their sandboxes to go. */
    @Override
    public void close() {
        ticker.shutdownNow();
        for (LiveSession session : List.copyOf(live.values())) {
            closeSession(session, SessionCloseReason.SERVER_RESTART, "the server shut down");
        }
        teardowns.shutdown();
        try {
            if (!teardowns.awaitTermination(60, TimeUnit.SECONDS)) {
                log.warn("session sandboxes still being removed at shutdown");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
