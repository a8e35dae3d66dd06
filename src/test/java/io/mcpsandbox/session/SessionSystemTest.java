package io.mcpsandbox.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.model.ExecutionRecord;
import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.SessionCloseReason;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.model.SessionRequest;
import io.mcpsandbox.model.SessionStatus;
import io.mcpsandbox.runtime.agent.DirectoryListing;
import io.mcpsandbox.runtime.agent.FileEntry;
import io.mcpsandbox.runtime.oci.OciRuntime;
import io.mcpsandbox.testing.DockerDaemon;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The session core on every runtime, through {@link SessionService} and the execution pipeline: state kept
 * between executions, per-execution limits that end one program and not the session, ownership, caps, idle
 * and lifetime ends, file operations (hostile trees included), a lost agent and orphans after a restart.
 * One service for the class, with small caps and a short expiry warning; every test closes what it opened
 * and checks that its sandboxes are gone.
 */
@SystemTest
class SessionSystemTest {
    private static final int MAX_PER_USER = 2;
    private static final int MAX_OPEN = 3;
    /** What a snippet shows of its start: its argv, and whether its process was the spare (the starter's argv). */
    private static final String SHOWS_ITS_START = "import sys\n"
            + "spare = open('/proc/self/cmdline', 'rb').read().split(b'\\0')[1:2] == [b'-c']\n"
            + "print('spare' if spare else 'plain', sys.argv, __file__, getattr(sys, 'marker', None),"
            + " sys.stdin.read())\n";

    private static TestSandbox sandbox;
    private static final List<SessionService.ExpiryWarning> warnings = new CopyOnWriteArrayList<>();
    /** Users of the current test: their sessions are closed after it, whatever happened. */
    private final Set<String> users = ConcurrentHashMap.newKeySet();

    @BeforeAll
    static void start() throws Exception {
        DockerDaemon.ensureRunning();
        // The command policy only reports: the hostile programs below must meet the sandbox and the agent.
        sandbox = TestSandbox.start(Map.of("MCP_SANDBOX_POLICY_MODE", "report",
                "MCP_SANDBOX_SESSION_MAX_PER_USER", Integer.toString(MAX_PER_USER),
                "MCP_SANDBOX_SESSION_MAX_OPEN", Integer.toString(MAX_OPEN),
                "MCP_SANDBOX_SESSION_EXPIRY_WARNING", "2s",
                // /workspace must hold 100,000 files (a tmpfs gets one inode per 4 KiB of its size).
                "MCP_SANDBOX_LIMITS_DEFAULT_TMP", "512m"));
        sandbox.services().sessions().onExpiryWarning(warnings::add);
    }

    @AfterAll
    static void stop() throws IOException {
        sandbox.close();
    }

    @AfterEach
    void closeWhatIsLeftOpen() throws Exception {
        closeAllOf(users);
        // A failed test leaves sessions: their sandboxes must go before the next test (and the images at the end).
        assertNothingLeftBehind();
    }

    private static void closeAllOf(Set<String> users) {
        for (String user : users) {
            for (SessionRecord open : sessions().list(user)) {
                try {
                    sessions().close(user, open.sessionId());
                } catch (SessionUnavailableException closedMeanwhile) {
                    // it ended on its own
                }
            }
        }
    }

    static Stream<String> runtimes() {
        return TestSandbox.ALL_RUNTIMES.stream();
    }

    /** The container runtimes and the microVM (whose boots are slow under TCG: only the tests that need it). */
    static Stream<String> runtimesAndMicrovm() {
        return Stream.concat(runtimes(), Stream.of("microvm"));
    }

    // ---- executions in a session ----------------------------------------------------------------------

    @ParameterizedTest
    @MethodSource("runtimesAndMicrovm")
    void executionsShareOneSandboxAndEndOnlyTheirOwnProgram(String runtime) throws Exception {
        String owner = user("owner", runtime);
        SessionRecord session = open(request(runtime, owner).env(Map.of("SESSION_VAR", "from-session",
                "SHARED", "session")).build());
        String id = session.sessionId();
        assertThat(session.runtime()).isEqualTo(runtime);
        assertThat(session.status()).isEqualTo(SessionStatus.OPEN);
        assertThat(session.envNames()).containsExactlyInAnyOrder("SESSION_VAR", "SHARED");
        List<ExecutionResult> ran = new ArrayList<>();

        // State: a file, /tmp, a directory for a later workDir, a background process.
        ExecutionResult first = ranIn(ran, owner, id, sh("echo kept > /workspace/state.txt; echo tmp > /tmp/t.txt;"
                + " mkdir -p /workspace/wd; sleep 1000 & echo $! > /workspace/pid; echo started"));
        assertCompleted(first, "started\n");

        ExecutionResult second = ranIn(ran, owner, id, sh("cat /workspace/state.txt /tmp/t.txt;"
                + " kill -0 $(cat /workspace/pid) && echo alive; echo \"$SESSION_VAR $SHARED $OWN\"; pwd; cat")
                .env("SHARED", "execution").env("OWN", "own").workDir("/workspace/wd").stdin("from stdin"));
        assertCompleted(second, "kept\ntmp\nalive\nfrom-session execution own\n/workspace/wd\nfrom stdin");

        // Its own deadline ends this program only: the background process and the session live on.
        ExecutionResult slow = ranIn(ran, owner, id, sh("echo before; sleep 60").limits(timeoutMs(1500)));
        assertThat(slow.status()).as(slow.reason()).isEqualTo(ExecutionStatus.TIMEOUT);
        assertThat(slow.stdout()).isEqualTo("before\n");
        assertThat(slow.durationMs()).isLessThan(15_000);
        assertCompleted(ranIn(ran, owner, id, sh("kill -0 $(cat /workspace/pid) && cat /workspace/state.txt")),
                "kept\n");

        // Its own output cap likewise.
        ExecutionResult loud = ranIn(ran, owner, id, sh("yes loud").limits(new LimitsRequest(null, null, null, null,
                4096L)));
        assertThat(loud.status()).as(loud.reason()).isEqualTo(ExecutionStatus.OUTPUT_LIMIT);
        assertThat(loud.stdout().length()).isLessThanOrEqualTo(4096);
        assertCompleted(ranIn(ran, owner, id, sh("kill -0 $(cat /workspace/pid) && echo still")), "still\n");

        // Terminate ends the program in the session, not the session.
        var submission = sandbox.submit(sh("echo go; sleep 60").sessionId(id).userId(owner).build());
        awaitActive(submission.executionId());
        Thread.sleep(500);
        assertThat(sandbox.services().executions().terminate(submission.executionId())).isTrue();
        ExecutionResult terminated = submission.result().get(30, TimeUnit.SECONDS);
        ran.add(terminated);
        assertThat(terminated.status()).as(terminated.reason()).isEqualTo(ExecutionStatus.TERMINATED);

        // Snippets twice in a row (their main.py is replaced), and request files in subdirectories.
        assertCompleted(ranIn(ran, owner, id, ExecutionRequest.builder().language("python")
                .code("open('/workspace/py.txt', 'w').write('from python')\nprint('one')")), "one\n");
        assertCompleted(ranIn(ran, owner, id, ExecutionRequest.builder().language("python")
                .code("print(open('/workspace/py.txt').read())")), "from python\n");
        assertCompleted(ranIn(ran, owner, id, sh("cat /workspace/sub/dir/a.txt /workspace/b.txt; echo;"
                + " kill -0 $(cat /workspace/pid) && echo alive").file("sub/dir/a.txt", "deep ").file("b.txt", "top")),
                "deep top\nalive\n");

        // What the session fixes cannot be asked for differently.
        ExecutionResult memory = ranIn(ran, owner, id, sh("true").limits(new LimitsRequest(null, 64L << 20, null,
                null, null)));
        assertThat(memory.status()).isEqualTo(ExecutionStatus.REJECTED);
        assertThat(memory.reason()).contains("limits");
        String other = runtime.equals("runc") ? "runsc" : "runc";
        ExecutionResult elsewhere = ranIn(ran, owner, id, sh("true").runtime(other));
        assertThat(elsewhere.status()).isEqualTo(ExecutionStatus.REJECTED);
        assertThat(elsewhere.reason()).contains("runtime");

        // The records: each execution's carries the session; the session counts them.
        assertRecordsOf(id, owner, ran);

        // File operations are not executions (checked last: the rest holds either way).
        sessions().writeFile(owner, id, "/workspace/counted.txt", input("x"), 10);
        sessions().listFiles(owner, id, "/workspace");
        ownershipAndClose(runtime, owner, id);
        assertNothingLeftBehind();
        assertThat(sandbox.services().store().findSession(id).orElseThrow().executions())
                .as("executions counted after two file operations").isEqualTo(ran.size());
    }

    // ---- the spare interpreter -------------------------------------------------------------------------

    /**
     * After two snippets of one shape in a row, an idle session keeps an interpreter started ahead; the next
     * snippet of that shape runs in it as a plain start would, and anything that could change what it saw at its
     * start makes the next call start anew: other work (a command, a file put, its own env), a package dir planted
     * meanwhile by a process the session left running (the spare then re-executes as a plain start), the spare
     * killed.
     */
    @ParameterizedTest
    @MethodSource("runtimes")
    void aSpareInterpreterServesTheNextSnippetOnlyAsAPlainStartWouldRun(String runtime) throws Exception {
        String owner = user("spare", runtime);
        String id = open(request(runtime, owner).build()).sessionId();
        List<ExecutionResult> ran = new ArrayList<>();
        String plain = "['/workspace/main.py'] /workspace/main.py None";

        // The second snippet of a shape in a row leaves a spare; the third takes it, loaded or not yet.
        assertCompleted(ranIn(ran, owner, id, snippet(SHOWS_ITS_START).stdin("a")), "plain " + plain + " a\n");
        assertCompleted(ranIn(ran, owner, id, snippet(SHOWS_ITS_START).stdin("b")), "plain " + plain + " b\n");
        assertCompleted(ranIn(ran, owner, id, snippet(SHOWS_ITS_START).stdin("c")), "spare " + plain + " c\n");
        // An uncaught exception: exit 1, the program's frames only, as a plain start prints it.
        ExecutionResult raised = ranIn(ran, owner, id, snippet("def f():\n    raise ValueError('no')\nf()\n"));
        assertThat(raised.status()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(raised.exitCode()).isEqualTo(1);
        assertThat(raised.stderr()).startsWith("Traceback (most recent call last):\n  File \"/workspace/main.py\"")
                .contains("ValueError: no").doesNotContain("mcp_sandbox");

        // A process the session left running plants a .pth in the user's site directory after the next spare
        // started: the call after sees it, as a plain start would (the spare noticed and started anew).
        assertCompleted(ranIn(ran, owner, id, snippet("import site, subprocess\n"
                + "subprocess.Popen(['sh', '-c', 'sleep 2; mkdir -p \"$0\"; echo \"import sys; sys.marker = 7\" > "
                + "\"$0/planted.pth\"', site.getusersitepackages()], start_new_session=True)\nprint('planting')\n")),
                "planting\n");
        Thread.sleep(3000);
        String planted = "['/workspace/main.py'] /workspace/main.py 7";
        assertCompleted(ranIn(ran, owner, id, snippet(SHOWS_ITS_START)), "plain " + planted + " \n");
        assertCompleted(ranIn(ran, owner, id, snippet(SHOWS_ITS_START)), "spare " + planted + " \n");

        // Other work in between (a command, a file put): two snippets in a row again before a spare.
        assertCompleted(ranIn(ran, owner, id, sh("echo command")), "command\n");
        assertCompleted(ranIn(ran, owner, id, snippet(SHOWS_ITS_START)), "plain " + planted + " \n");
        assertCompleted(ranIn(ran, owner, id, snippet(SHOWS_ITS_START)), "plain " + planted + " \n");
        sessions().writeFile(owner, id, "/workspace/put.txt", input("x"), 10);
        assertCompleted(ranIn(ran, owner, id, snippet(SHOWS_ITS_START)), "plain " + planted + " \n");
        assertCompleted(ranIn(ran, owner, id, snippet(SHOWS_ITS_START)), "plain " + planted + " \n");
        assertCompleted(ranIn(ran, owner, id, snippet(SHOWS_ITS_START)), "spare " + planted + " \n");
        // A spare serves only the environment it was started with (the snippets' before it).
        assertCompleted(ranIn(ran, owner, id, snippet(SHOWS_ITS_START)), "spare " + planted + " \n");
        assertCompleted(ranIn(ran, owner, id, snippet(SHOWS_ITS_START).env("OWN", "1")), "plain " + planted
                + " \n");
        assertCompleted(ranIn(ran, owner, id, snippet(SHOWS_ITS_START).env("OWN", "1")), "plain " + planted
                + " \n");
        assertCompleted(ranIn(ran, owner, id, snippet(SHOWS_ITS_START).env("OWN", "1")), "spare " + planted
                + " \n");
        assertCompleted(ranIn(ran, owner, id, snippet(SHOWS_ITS_START)), "plain " + planted + " \n");

        // Killed while it waits (by what the session left running): the next call starts anew and completes.
        assertCompleted(ranIn(ran, owner, id, sh("(sleep 2; for p in /proc/[0-9]*; do"
                + " grep -q _mcp_sandbox_st''art $p/cmdline && kill -9 ${p#/proc/}; done) >/dev/null 2>&1 &"
                + " echo armed")), "armed\n");
        assertCompleted(ranIn(ran, owner, id, snippet("print('started')")), "started\n");
        assertCompleted(ranIn(ran, owner, id, snippet("print('spare waits')")), "spare waits\n");
        Thread.sleep(3000);
        assertCompleted(ranIn(ran, owner, id, snippet(SHOWS_ITS_START)), "plain " + planted + " \n");

        assertRecordsOf(id, owner, ran);
        sessions().close(owner, id);
        assertNothingLeftBehind();
    }

    private static ExecutionRequest.Builder snippet(String code) {
        return ExecutionRequest.builder().language("python").code(code);
    }

    /** Another user's operations find nothing; a closed session is gone, with why. */
    private void ownershipAndClose(String runtime, String owner, String id) throws Exception {
        String stranger = user("stranger", runtime);
        assertNotFound(() -> sessions().show(stranger, id));
        assertNotFound(() -> sessions().lease(stranger, id));
        assertNotFound(() -> sessions().close(stranger, id));
        assertNotFound(() -> sessions().writeFile(stranger, id, "/workspace/x", input("x"), 10));
        assertNotFound(() -> sessions().readFile(stranger, id, "/workspace/state.txt", 100,
                new ByteArrayOutputStream()));
        assertNotFound(() -> sessions().listFiles(stranger, id, "/workspace"));
        assertNotFound(() -> sessions().deleteFile(stranger, id, "/workspace/state.txt"));
        assertNotFound(() -> sessions().show(owner, "no-such-session"));
        assertThat(sessions().list(stranger)).isEmpty();
        ExecutionResult foreign = sandbox.run(sh("echo hi").sessionId(id).userId(stranger).build());
        assertThat(foreign.status()).isEqualTo(ExecutionStatus.REJECTED);
        assertThat(foreign.reason()).startsWith("sessionId:");
        // The stranger's attempt changed nothing: the file is still there for its owner.
        assertThat(read(owner, id, "/workspace/state.txt")).isEqualTo("kept\n".getBytes(StandardCharsets.UTF_8));

        SessionRecord closed = sessions().close(owner, id);
        assertThat(closed.status()).isEqualTo(SessionStatus.CLOSED);
        assertThat(closed.closeReason()).isEqualTo(SessionCloseReason.CLOSED);
        assertGone(() -> sessions().show(owner, id), SessionCloseReason.CLOSED);
        assertGone(() -> sessions().close(owner, id), SessionCloseReason.CLOSED);
        assertGone(() -> sessions().lease(owner, id), SessionCloseReason.CLOSED);
        assertGone(() -> sessions().listFiles(owner, id, "/workspace"), SessionCloseReason.CLOSED);
        assertNotFound(() -> sessions().show(stranger, id));
        ExecutionResult late = sandbox.run(sh("echo hi").sessionId(id).userId(owner).build());
        assertThat(late.status()).isEqualTo(ExecutionStatus.REJECTED);
        assertThat(late.reason()).startsWith("sessionId:").contains("closed");
        assertThat(sandbox.services().store().findSession(id).orElseThrow().closeReason())
                .isEqualTo(SessionCloseReason.CLOSED);
        assertThat(sessions().list(owner)).isEmpty();
    }

    private void assertRecordsOf(String id, String owner, List<ExecutionResult> ran) throws Exception {
        List<ExecutionRecord> records = sandbox.services().store().listBySession(id, 1000);
        assertThat(records).extracting(ExecutionRecord::executionId)
                .containsExactlyInAnyOrderElementsOf(ran.stream().map(ExecutionResult::executionId).toList());
        assertThat(records).allSatisfy(r -> {
            assertThat(r.sessionId()).isEqualTo(id);
            assertThat(r.userId()).isEqualTo(owner);
            assertThat(r.status()).isNotEqualTo(ExecutionStatus.RUNNING);
        });
        assertThat(sessions().show(owner, id).executions()).as("executions counted by the session")
                .isEqualTo(ran.size());
        SessionRecord stored = sandbox.services().store().findSession(id).orElseThrow();
        assertThat(stored.executions()).as("executions in the stored record").isEqualTo(ran.size());
    }

    // ---- the agent lost mid-call ----------------------------------------------------------------------

    @ParameterizedTest
    @MethodSource("runtimesAndMicrovm")
    void aSandboxKilledUnderAnExecutionFailsTheSession(String runtime) throws Exception {
        String owner = user("lost", runtime);
        SessionRecord session = open(request(runtime, owner).build());
        String id = session.sessionId();
        var submission = sandbox.submit(sh("echo go; sleep 60; echo never").sessionId(id).userId(owner).build());
        awaitActive(submission.executionId());
        killFromHost(runtime, session.sandboxName());

        ExecutionResult lost = submission.result().get(60, TimeUnit.SECONDS);
        System.out.println(runtime + ": sandbox killed mid-call -> " + lost.status() + ": " + lost.reason());
        assertThat(lost.status()).as(lost.reason()).isIn(ExecutionStatus.ERROR, ExecutionStatus.OOM_KILLED);
        assertThat(lost.stdout()).doesNotContain("never");
        assertThat(lost.reason()).isNotBlank();
        assertGone(() -> sessions().show(owner, id), SessionCloseReason.FAILED);
        SessionRecord stored = sandbox.services().store().findSession(id).orElseThrow();
        assertThat(stored.status()).isEqualTo(SessionStatus.CLOSED);
        assertThat(stored.closeReason()).isEqualTo(SessionCloseReason.FAILED);
        assertThat(stored.closeDetail()).isNotBlank();
        assertThat(sandbox.services().store().find(lost.executionId()).orElseThrow().status())
                .isEqualTo(lost.status());
        assertNothingLeftBehind();
    }

    private static void killFromHost(String runtime, String sandboxName) throws Exception {
        if (runtime.equals("microvm")) {
            // The VM is its QEMU process, named after the sandbox.
            List<Long> qemu = TestSandbox.hostProcessesWith("-name " + sandboxName + " ");
            assertThat(qemu).as("the QEMU of " + sandboxName).hasSize(1);
            assertThat(ProcessHandle.of(qemu.get(0)).orElseThrow().destroyForcibly()).isTrue();
            return;
        }
        if (runtime.startsWith("docker")) {
            DockerDaemon.docker("kill", sandboxName);
            return;
        }
        OciRuntime oci = (OciRuntime) sandbox.services().registry().find(runtime).orElseThrow();
        Process kill = new ProcessBuilder(oci.command("kill", sandboxName, "KILL")).redirectErrorStream(true)
                .start();
        String said = new String(kill.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(kill.waitFor()).as(runtime + " kill: " + said).isZero();
    }

    // ---- caps, idle and lifetime ----------------------------------------------------------------------

    @ParameterizedTest
    @MethodSource("runtimes")
    void capsPerUserAndServerWide(String runtime) throws Exception {
        String a = user("cap-a", runtime);
        String b = user("cap-b", runtime);
        String c = user("cap-c", runtime);
        SessionRecord a1 = open(request(runtime, a).build());
        open(request(runtime, a).build());
        assertThatThrownBy(() -> open(request(runtime, a).build())).isInstanceOf(SessionLimitException.class)
                .hasMessageContaining("max-per-user");
        SessionRecord b1 = open(request(runtime, b).build());
        assertThatThrownBy(() -> open(request(runtime, c).build())).isInstanceOf(SessionLimitException.class)
                .hasMessageContaining("max-open");
        assertThat(sessions().openCount()).isEqualTo(MAX_OPEN);

        sessions().close(b, b1.sessionId());
        SessionRecord c1 = open(request(runtime, c).build());
        assertThatThrownBy(() -> open(request(runtime, b).build())).isInstanceOf(SessionLimitException.class);
        sessions().close(a, a1.sessionId());
        SessionRecord a3 = open(request(runtime, a).build());
        // The slots hold working sessions.
        assertCompleted(sandbox.run(sh("echo c").sessionId(c1.sessionId()).userId(c).build()), "c\n");
        assertCompleted(sandbox.run(sh("echo a").sessionId(a3.sessionId()).userId(a).build()), "a\n");
        closeAllOf(users);
        assertThat(sessions().openCount()).isZero();
        assertNothingLeftBehind();
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void idleAndLifetimeEndsCloseSessionsAfterAWarning(String runtime) throws Exception {
        String owner = user("expiry", runtime);
        SessionRecord idle = open(new SessionRequest(null, runtime, null, null, null, null, null, 2L, null, owner));
        SessionRecord mortal = open(new SessionRequest(null, runtime, null, null, null, null, null, 0L, 3L, owner));
        assertThat(idle.idleExpiresAt()).isNotNull();
        assertThat(mortal.idleExpiresAt()).as("no idle timeout").isNull();
        // Activity keeps an idle session open: one execution in the middle of its idle time.
        assertCompleted(sandbox.run(sh("echo busy").sessionId(idle.sessionId()).userId(owner).build()), "busy\n");

        SessionRecord idleEnd = awaitClosed(idle.sessionId(), Duration.ofSeconds(15));
        SessionRecord lifetimeEnd = awaitClosed(mortal.sessionId(), Duration.ofSeconds(15));
        assertThat(idleEnd.closeReason()).isEqualTo(SessionCloseReason.IDLE);
        assertThat(idleEnd.closedAt()).isAfterOrEqualTo(idleEnd.lastActiveAt().plusSeconds(2));
        assertThat(Duration.between(idleEnd.lastActiveAt(), idleEnd.closedAt())).isLessThan(Duration.ofSeconds(6));
        assertThat(lifetimeEnd.closeReason()).isEqualTo(SessionCloseReason.EXPIRED);
        assertThat(lifetimeEnd.closedAt()).isAfterOrEqualTo(mortal.expiresAt());
        assertThat(Duration.between(mortal.createdAt(), lifetimeEnd.closedAt())).isLessThan(Duration.ofSeconds(7));
        assertGone(() -> sessions().show(owner, idle.sessionId()), SessionCloseReason.IDLE);
        assertGone(() -> sessions().show(owner, mortal.sessionId()), SessionCloseReason.EXPIRED);

        assertThat(warnings).anySatisfy(w -> {
            assertThat(w.sessionId()).isEqualTo(idle.sessionId());
            assertThat(w.userId()).isEqualTo(owner);
            assertThat(w.reason()).isEqualTo(SessionCloseReason.IDLE);
        });
        assertThat(warnings).anySatisfy(w -> {
            assertThat(w.sessionId()).isEqualTo(mortal.sessionId());
            assertThat(w.reason()).isEqualTo(SessionCloseReason.EXPIRED);
            assertThat(w.at()).isEqualTo(mortal.expiresAt());
        });
        assertNothingLeftBehind();
    }

    private static SessionRecord awaitClosed(String id, Duration within) throws InterruptedException {
        Instant end = Instant.now().plus(within);
        while (Instant.now().isBefore(end)) {
            var stored = sandbox.services().store().findSession(id);
            if (stored.isPresent() && !stored.get().isOpen()) {
                return stored.get();
            }
            Thread.sleep(200);
        }
        throw new AssertionError("session " + id + " still open after " + within);
    }

    // ---- files ----------------------------------------------------------------------------------------

    @ParameterizedTest
    @MethodSource("runtimes")
    void filesRoundTripAndNeverFollowWhatTheSandboxPlanted(String runtime) throws Exception {
        String owner = user("files", runtime);
        // Room for the 100,000 inodes of the large directory below.
        String id = open(new SessionRequest(null, runtime, null, new LimitsRequest(null, 1L << 30, null, null, null),
                null, null, null, null, null, owner)).sessionId();

        byte[] every = new byte[256];
        for (int i = 0; i < every.length; i++) {
            every[i] = (byte) i;
        }
        sessions().writeFile(owner, id, "/workspace/made/on/demand/all.bin", new ByteArrayInputStream(every), 1024);
        assertThat(read(owner, id, "/workspace/made/on/demand/all.bin")).isEqualTo(every);
        assertCompleted(sandbox.run(sh("od -An -tx1 -v /workspace/made/on/demand/all.bin | tr -d ' \\n' | md5sum")
                .sessionId(id).userId(owner).build()), md5Hex(HexFormat.of().formatHex(every)) + "  -\n");
        DirectoryListing listed = sessions().listFiles(owner, id, "/workspace/made/on/demand");
        assertThat(listed.truncated()).isFalse();
        assertThat(listed.entries()).singleElement().satisfies(e -> {
            assertThat(e.name()).isEqualTo("all.bin");
            assertThat(e.kind()).isEqualTo(FileEntry.Kind.FILE);
            assertThat(e.size()).isEqualTo(256);
        });
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        assertThat(sessions().readFile(owner, id, "/workspace/made/on/demand/all.bin", 10, head)).isTrue();
        assertThat(head.toByteArray()).hasSize(10);
        sessions().deleteFile(owner, id, "/workspace/made/on/demand/all.bin");
        assertFileError(SessionFileException.Kind.MISSING, () -> read(owner, id, "/workspace/made/on/demand/all.bin"));
        assertThat(sessions().listFiles(owner, id, "/workspace/made/on/demand").entries()).isEmpty();

        byte[] big = new byte[5 << 20];
        new Random(11).nextBytes(big);
        sessions().writeFile(owner, id, "/workspace/big.bin", new ByteArrayInputStream(big), big.length);
        assertThat(read(owner, id, "/workspace/big.bin")).isEqualTo(big);
        assertCompleted(sandbox.run(sh("sha256sum < /workspace/big.bin").sessionId(id).userId(owner).build()),
                sha256Hex(big) + "  -\n");
        assertFileError(SessionFileException.Kind.TOO_LARGE, () -> sessions().writeFile(owner, id,
                "/workspace/big2.bin", new ByteArrayInputStream(big), big.length - 1));

        invalidPaths(owner, id);
        SoftAssertions refusals = plantedLinks(runtime, owner, id);
        largeDirectory(owner, id, runtime);
        sessions().close(owner, id);
        assertNothingLeftBehind();
        refusals.assertAll();
    }

    private void invalidPaths(String owner, String id) {
        String tooLong = "/workspace/" + "a".repeat(SessionFiles.MAX_PATH_BYTES);
        for (String path : List.of("/etc/passwd", "/workspace/../etc/passwd", "/workspace/a/../../etc/passwd",
                "workspace/a", "a", "/workspace/./a", "/workspace//a", tooLong, "/workspace", "/workspacex/a",
                "/tmp/outside-for-writes", "/proc/1/root/etc/passwd", "")) {
            assertFileError(SessionFileException.Kind.INVALID,
                    () -> sessions().writeFile(owner, id, path, input("x"), 10));
            assertFileError(SessionFileException.Kind.INVALID, () -> sessions().deleteFile(owner, id, path));
        }
        for (String path : List.of("/etc/passwd", "/workspace/../etc/passwd", "relative", tooLong, "/",
                "/tmp/../etc")) {
            assertFileError(SessionFileException.Kind.INVALID, () -> read(owner, id, path));
            assertFileError(SessionFileException.Kind.INVALID, () -> sessions().listFiles(owner, id, path));
        }
    }

    /** @return the refusals, asserted by the caller last (what follows holds either way) */
    private SoftAssertions plantedLinks(String runtime, String owner, String id) throws Exception {
        byte[] hostPasswd = Files.readAllBytes(Path.of("/etc/passwd"));
        ExecutionResult passwdBefore = sandbox.run(sh("sha256sum < /etc/passwd; ls -a /etc | wc -l | tr -d ' '")
                .sessionId(id).userId(owner).build());
        assertThat(passwdBefore.status()).isEqualTo(ExecutionStatus.COMPLETED);
        // A hard link across /tmp and /workspace is refused by the kernel when they are two filesystems
        // (EXDEV); then a hard link inside /workspace stands in for it. mknod (a FIFO) may be denied by the
        // seccomp profile: then a Unix socket is the special file.
        ExecutionResult planted = sandbox.run(sh("cd /workspace && ln -s /etc/passwd link && ln -s /etc dirlink"
                + " && ln -s /tmp tmplink"
                + " && { mkfifo fifo 2>/dev/null && echo fifo=fifo || python3 -c \"import socket;"
                + " socket.socket(socket.AF_UNIX).bind('fifo')\" && echo fifo=socket; }"
                + " && echo tmp-original > /tmp/orig && echo ws-original > orig"
                + " && { ln /tmp/orig hard 2>/dev/null && echo hard=/tmp/orig"
                + " || { ln orig hard && echo hard=orig; }; }"
                // What the kernel (or gVisor) does with O_DIRECTORY|O_NOFOLLOW on a link, for the report.
                + " && { python3 -c \"import os; os.open('dirlink', os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)\""
                + " 2>/dev/null && echo o_directory_nofollow=followed || echo o_directory_nofollow=refused; }")
                .sessionId(id).userId(owner).build());
        assertThat(planted.status()).as(planted.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(planted.exitCode()).as(planted.stderr()).isZero();
        System.out.println(runtime + ": planted " + planted.stdout().replace('\n', ' '));
        String hardTarget = planted.stdout().contains("hard=/tmp/orig") ? "/tmp/orig" : "/workspace/orig";
        String hardOriginal = hardTarget.startsWith("/tmp") ? "tmp-original\n" : "ws-original\n";

        Map<String, SessionFileException.Kind> kinds = new java.util.LinkedHashMap<>();
        // Each refusal is checked on its own, so one report names every path that was followed.
        SoftAssertions soft = new SoftAssertions();
        softFileError(soft, "read link", () -> read(owner, id, "/workspace/link"));
        softFileError(soft, "read dirlink/passwd", () -> read(owner, id, "/workspace/dirlink/passwd"));
        softFileError(soft, "read special file", () -> read(owner, id, "/workspace/fifo"));
        softFileError(soft, "list dirlink", () -> sessions().listFiles(owner, id, "/workspace/dirlink"));
        softFileError(soft, "list tmplink", () -> sessions().listFiles(owner, id, "/workspace/tmplink"));
        softFileError(soft, "write dirlink/passwd", () -> sessions().writeFile(owner, id,
                "/workspace/dirlink/passwd", input("owned\n"), 100));
        softFileError(soft, "write dirlink/new-file", () -> sessions().writeFile(owner, id,
                "/workspace/dirlink/new-file", input("owned\n"), 100));
        softFileError(soft, "write tmplink/evil", () -> sessions().writeFile(owner, id, "/workspace/tmplink/evil",
                input("evil\n"), 100));
        softFileError(soft, "write tmplink/made/evil", () -> sessions().writeFile(owner, id,
                "/workspace/tmplink/made/evil", input("evil\n"), 100));
        softFileError(soft, "delete dirlink/passwd", () -> sessions().deleteFile(owner, id,
                "/workspace/dirlink/passwd"));
        softFileError(soft, "delete tmplink/orig", () -> sessions().deleteFile(owner, id, "/workspace/tmplink/orig"));
        ExecutionResult tmp = sandbox.run(sh("ls /tmp; cat /tmp/orig").sessionId(id).userId(owner).build());
        soft.assertThat(tmp.stdout()).as("/tmp after the writes and deletes through tmplink")
                .doesNotContain("evil", "made").contains("tmp-original");
        // Writing at a link's or a FIFO's name is refused or replaces that name; never written through.
        kinds.put("link", writeOrRefuse(owner, id, "/workspace/link", "replaced-link\n"));
        kinds.put("fifo", writeOrRefuse(owner, id, "/workspace/fifo", "replaced-fifo\n"));
        kinds.put("hard", writeOrRefuse(owner, id, "/workspace/hard", "replaced-hard\n"));
        for (Map.Entry<String, SessionFileException.Kind> k : kinds.entrySet()) {
            if (k.getValue() == null) {
                assertThat(read(owner, id, "/workspace/" + k.getKey())).as(k.getKey() + " replaced")
                        .isEqualTo(("replaced-" + k.getKey() + "\n").getBytes(StandardCharsets.UTF_8));
            }
        }
        // The hard link's other name keeps its content.
        assertThat(read(owner, id, hardTarget)).isEqualTo(hardOriginal.getBytes(StandardCharsets.UTF_8));

        // Deleting a link removes the link, not its target.
        sandbox.run(sh("cd /workspace && rm -f link && ln -s /etc/passwd link").sessionId(id).userId(owner).build());
        sessions().deleteFile(owner, id, "/workspace/link");
        sessions().deleteFile(owner, id, "/workspace/dirlink");
        sessions().deleteFile(owner, id, "/workspace/tmplink");
        List<String> names = sessions().listFiles(owner, id, "/workspace").entries().stream().map(FileEntry::name)
                .toList();
        assertThat(names).doesNotContain("link", "dirlink", "tmplink");
        ExecutionResult after = sandbox.run(sh("sha256sum < /etc/passwd; ls -a /etc | wc -l | tr -d ' '; test -e"
                + " /workspace/link || echo no-link").sessionId(id).userId(owner).build());
        // /etc in the sandbox: the same passwd, as many entries as before.
        assertThat(after.stdout()).isEqualTo(passwdBefore.stdout() + "no-link\n");
        assertThat(Files.readAllBytes(Path.of("/etc/passwd"))).as(runtime + ": the host's /etc/passwd")
                .isEqualTo(hostPasswd);
        return soft;
    }

    private SessionFileException.Kind writeOrRefuse(String owner, String id, String path, String content)
            throws Exception {
        try {
            sessions().writeFile(owner, id, path, input(content), 100);
            return null;
        } catch (SessionFileException e) {
            assertThat(e.kind()).as(path + ": " + e.getMessage()).isEqualTo(SessionFileException.Kind.REFUSED);
            return e.kind();
        }
    }

    /**
     * 100,000 entries on the host kernel; 20,000 under gVisor, where making them alone takes about a minute on
     * this machine (still twice the listing's cap, so the cap is what is tested).
     */
    private void largeDirectory(String owner, String id, String runtime) throws Exception {
        int files = runtime.endsWith("runsc") ? 20_000 : 100_000;
        ExecutionResult made = sandbox.run(sh("mkdir /workspace/many && cd /workspace/many"
                + " && seq 1 " + files + " | xargs touch && ls -f | wc -l").sessionId(id).userId(owner)
                .limits(timeoutMs(120_000)).build());
        assertThat(made.status()).as(made.reason() + made.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(made.stdout().trim()).isEqualTo(Integer.toString(files + 2));
        long t0 = System.nanoTime();
        DirectoryListing many = sessions().listFiles(owner, id, "/workspace/many");
        Duration took = Duration.ofNanos(System.nanoTime() - t0);
        assertThat(many.truncated()).isTrue();
        assertThat(many.entries()).hasSize(SessionFiles.MAX_LIST_ENTRIES);
        assertThat(many.entries()).allSatisfy(e -> assertThat(e.kind()).isEqualTo(FileEntry.Kind.FILE));
        assertThat(took).isLessThan(Duration.ofSeconds(20));
    }

    // ---- orphans after a restart ----------------------------------------------------------------------

    @Test
    void anOpenSessionOfADeadServerIsClosedAtRecovery() throws Exception {
        String owner = user("orphan", "none");
        Instant now = Instant.now();
        SessionRecord orphan = SessionRecord.opened("orphan-" + java.util.UUID.randomUUID(), owner, "host", "runc",
                io.mcpsandbox.model.SecurityLevel.DEFAULT, SessionRecord.READ_ONLY,
                sandbox.services().config().defaultLimits(), List.of("A"), now,
                now.plusSeconds(3600), 600, "mcp-exec-orphan-none", "1:1");
        sandbox.services().store().saveSession(orphan);
        assertThat(sandbox.services().store().openSessions()).extracting(SessionRecord::sessionId)
                .contains(orphan.sessionId());
        sandbox.services().recoverFromCrash();
        SessionRecord closed = sandbox.services().store().findSession(orphan.sessionId()).orElseThrow();
        assertThat(closed.status()).isEqualTo(SessionStatus.CLOSED);
        assertThat(closed.closeReason()).isEqualTo(SessionCloseReason.SERVER_RESTART);
        assertThat(closed.closedAt()).isNotNull();
        assertThat(sandbox.services().store().openSessions()).extracting(SessionRecord::sessionId)
                .doesNotContain(orphan.sessionId());
        assertGone(() -> sessions().show(owner, orphan.sessionId()), SessionCloseReason.SERVER_RESTART);
    }

    // ---- helpers --------------------------------------------------------------------------------------

    private String user(String role, String runtime) {
        String user = role + "-" + runtime;
        users.add(user);
        return user;
    }

    private static SessionService sessions() {
        return sandbox.services().sessions();
    }

    private static SessionRecord open(SessionRequest request) throws Exception {
        return sandbox.openSession(request);
    }

    /** A session request builder would be more code than these two shapes. */
    private static RequestShape request(String runtime, String user) {
        return new RequestShape(runtime, user, Map.of());
    }

    private record RequestShape(String runtime, String user, Map<String, String> env) {
        RequestShape env(Map<String, String> e) {
            return new RequestShape(runtime, user, e);
        }

        SessionRequest build() {
            return new SessionRequest(null, runtime, null, null, env, null, null, null, null, user);
        }
    }

    private static ExecutionRequest.Builder sh(String script) {
        return ExecutionRequest.builder().command("sh", "-c", script);
    }

    private static LimitsRequest timeoutMs(long ms) {
        return new LimitsRequest(ms, null, null, null, null);
    }

    private static ExecutionResult ranIn(List<ExecutionResult> ran, String user, String sessionId,
                                         ExecutionRequest.Builder request) {
        ExecutionResult result = sandbox.run(request.sessionId(sessionId).userId(user).build());
        ran.add(result);
        return result;
    }

    private static void assertCompleted(ExecutionResult result, String stdout) {
        assertThat(result.status()).as(result.reason() + " / " + result.stderr())
                .isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(result.exitCode()).as(result.stderr()).isZero();
        assertThat(result.stdout()).isEqualTo(stdout);
    }

    private static void awaitActive(String executionId) throws InterruptedException {
        for (int i = 0; i < 100 && sandbox.services().executions().active(executionId).isEmpty(); i++) {
            Thread.sleep(50);
        }
        assertThat(sandbox.services().executions().active(executionId)).as("active").isPresent();
    }

    private static ByteArrayInputStream input(String text) {
        return new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8));
    }

    private static byte[] read(String user, String id, String path) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertThat(sessions().readFile(user, id, path, 64L << 20, out)).as("truncated").isFalse();
        return out.toByteArray();
    }

    @FunctionalInterface
    private interface Call {
        void run() throws Exception;
    }

    private static void assertNotFound(Call call) {
        assertThatThrownBy(call::run).isInstanceOfSatisfying(SessionUnavailableException.class,
                e -> assertThat(e.kind()).isEqualTo(SessionUnavailableException.Kind.NOT_FOUND));
    }

    private static void assertGone(Call call, SessionCloseReason reason) {
        assertThatThrownBy(call::run).isInstanceOfSatisfying(SessionUnavailableException.class, e -> {
            assertThat(e.kind()).isEqualTo(SessionUnavailableException.Kind.GONE);
            assertThat(e.reason()).isEqualTo(reason);
        });
    }

    private static void softFileError(SoftAssertions soft, String what, Call call) {
        try {
            call.run();
            soft.fail(what + ": done, not refused");
        } catch (SessionFileException e) {
            soft.assertThat(e.kind()).as(what + ": " + e.getMessage()).isEqualTo(SessionFileException.Kind.REFUSED);
        } catch (Exception e) {
            soft.fail(what + ": " + e);
        }
    }

    private static void assertFileError(SessionFileException.Kind kind, Call call) {
        assertThatThrownBy(call::run).isInstanceOfSatisfying(SessionFileException.class,
                e -> assertThat(e.kind()).as(e.getMessage()).isEqualTo(kind));
    }

    /** Session sandboxes are removed in the background, with no wait offered: poll until they are gone. */
    private static void assertNothingLeftBehind() throws Exception {
        Instant end = Instant.now().plusSeconds(60);
        while (true) {
            try {
                sandbox.assertNothingLeftBehind();
                return;
            } catch (AssertionError e) {
                if (Instant.now().isAfter(end)) {
                    throw e;
                }
                Thread.sleep(250);
            }
        }
    }

    private static String sha256Hex(byte[] data) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }

    private static String md5Hex(String text) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(text.getBytes(StandardCharsets.UTF_8)));
    }
}
