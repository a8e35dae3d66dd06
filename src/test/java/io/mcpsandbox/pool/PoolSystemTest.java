package io.mcpsandbox.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.mcpsandbox.model.ExecutionRequest;
import io.mcpsandbox.model.ExecutionResult;
import io.mcpsandbox.model.ExecutionStatus;
import io.mcpsandbox.model.LimitsRequest;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.model.SessionRequest;
import io.mcpsandbox.runtime.oci.OciRuntime;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Warm pools on the real runtimes: a pooled sandbox serves exactly one execution or session, looks to the
 * program inside like a cold one (the same facts, apart from its start time), keeps every limit, is replaced
 * when it died while waiting, and leaves nothing behind when the pools drain.
 */
@SystemTest
class PoolSystemTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    /** One of each on both OCI runtimes: python and node waiting on runc, python on runsc, plain on both. */
    private static final String POOLS = "runc:host:python=1,runc:host:node=1,runc:host=1,runsc:host:python=1,"
            + "runsc:host=1,microvm:host:python=1,microvm:host=1";
    /**
     * What the program inside can see of its sandbox: who and where it is, its argv and environment, its
     * limits, mounts, processes, descriptors and privileges, its stdin. Printed as JSON.
     */
    private static final String PYTHON_FACTS = """
            import json, os, re, resource, sys
            def read(path):
                try:
                    with open(path) as f:
                        return f.read()
                except OSError as e:
                    return 'error %d' % e.errno
            status = [l for l in read('/proc/self/status').splitlines()
                      if l.split(':')[0] in ('Uid', 'Gid', 'Groups', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd',
                                             'CapAmb', 'NoNewPrivs', 'Seccomp')]
            # The host ids a sandbox's user maps to differ from sandbox to sandbox (a uid range each).
            mounts = sorted(re.sub(r'(uid|gid)=[0-9]+', r'\\1=N', ' '.join(l.split()[4:6]) + ' ' + l.split(' - ')[1])
                            for l in read('/proc/self/mountinfo').splitlines())
            print(json.dumps({
                'argv': sys.argv, 'name': __name__, 'file': __file__, 'path0': sys.path[0], 'cwd': os.getcwd(),
                'env': dict(os.environ), 'status': status, 'mounts': mounts,
                'rlimits': {n: resource.getrlimit(getattr(resource, n)) for n in
                            ('RLIMIT_NOFILE', 'RLIMIT_NPROC', 'RLIMIT_FSIZE', 'RLIMIT_CORE', 'RLIMIT_STACK',
                             'RLIMIT_AS', 'RLIMIT_MEMLOCK')},
                'workspace': sorted(os.listdir('/workspace')), 'tmp': sorted(os.listdir('/tmp')),
                # Kernel threads (a microVM's guest shows its own, which come and go) have no command line.
                'processes': sorted(read('/proc/%s/cmdline' % p) for p in os.listdir('/proc')
                                    if p.isdigit() and p != str(os.getpid()) and read('/proc/%s/cmdline' % p)),
                'fds': sorted(os.listdir('/proc/self/fd')), 'hostname': os.uname().nodename,
                'umask': os.umask(0o22), 'stdin': sys.stdin.read(), 'modules': sorted(sys.modules),
                'main': sorted(k for k in globals() if k != 'read' and k != 'status' and k != 'mounts'),
                'cgroup': read('/proc/self/cgroup'),
            }, sort_keys=True))
            """;

    private static TestSandbox pooled;
    private static TestSandbox cold;

    @BeforeAll
    static void start() {
        Map<String, String> env = Map.of("MCP_SANDBOX_POLICY_MODE", "report", "MCP_SANDBOX_POOL_SANDBOXES", POOLS);
        pooled = TestSandbox.start(env);
        pooled.services().startPools();
        cold = TestSandbox.start(Map.of("MCP_SANDBOX_POLICY_MODE", "report", "MCP_SANDBOX_POOL_ENABLED", "false"));
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (pooled != null) {
                // Draining removes every ready sandbox: nothing of the pools may remain.
                pooled.services().pool().close();
                pooled.assertNothingLeftBehind();
                assertThat(pooled.services().pool().status()).allSatisfy(p -> assertThat(p.ready()).isZero());
            }
        } finally {
            if (pooled != null) {
                pooled.close();
            }
            if (cold != null) {
                cold.close();
            }
        }
    }

    static Stream<String> runtimes() {
        return TestSandbox.OCI_RUNTIMES.stream();
    }

    /** Booted microVMs wait in the pool as containers do (the critical level's warm pool). */
    static Stream<String> runtimesAndMicrovm() {
        return Stream.concat(runtimes(), Stream.of("microvm"));
    }

    /** Waits until every pool holds its size, so that the next take is a hit. */
    private static void awaitFull() {
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(100)).untilAsserted(() ->
                assertThat(pooled.services().pool().status()).allSatisfy(p -> assertThat(p.ready())
                        .as(p.key() + " (" + p.problem() + ")").isEqualTo(p.size())));
    }

    private static ExecutionRequest.Builder python(String runtime, String code) {
        return ExecutionRequest.builder().runtime(runtime).language("python").code(code).userId("pool-test");
    }

    @ParameterizedTest
    @MethodSource("runtimesAndMicrovm")
    void aPooledPythonLooksToTheProgramExactlyAsAColdOne(String runtime) throws Exception {
        awaitFull();
        ExecutionRequest request = python(runtime, PYTHON_FACTS).stdin("the input\n")
                .files(Map.of("data/extra.txt", "x")).build();

        ExecutionResult warm = pooled.run(request);
        ExecutionResult plain = cold.run(request);

        assertThat(warm.status()).as(warm.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(plain.status()).as(plain.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(warm.pooled()).isTrue();
        assertThat(plain.pooled()).isFalse();
        JsonNode seenWarm = JSON.readTree(warm.stdout());
        JsonNode seenCold = JSON.readTree(plain.stdout());
        assertThat(seenWarm.get("stdin").asString()).isEqualTo("the input\n");
        assertThat(seenWarm.get("argv").get(0).asString()).isEqualTo("/workspace/main.py");
        // The hostname is the sandbox's own name on some runtimes: each sandbox has another.
        ((tools.jackson.databind.node.ObjectNode) seenWarm).remove("hostname");
        ((tools.jackson.databind.node.ObjectNode) seenCold).remove("hostname");
        assertThat(seenWarm).isEqualTo(seenCold);
        assertThat(warm.stderr()).isEqualTo(plain.stderr());
    }

    @Test
    void aPooledNodeRunsItsFileAsTheMainModule() {
        awaitFull();
        String code = """
                let input = '';
                process.stdin.on('data', c => input += c);
                process.stdin.on('end', () => console.log(JSON.stringify({argv: process.argv.slice(1),
                    main: require.main === module, file: __filename, cwd: process.cwd(), input})));
                """;
        ExecutionRequest request = ExecutionRequest.builder().runtime("runc").language("node").code(code)
                .stdin("abc").userId("pool-test").build();

        ExecutionResult warm = pooled.run(request);
        ExecutionResult plain = cold.run(request);

        assertThat(warm.pooled()).isTrue();
        assertThat(warm.status()).as(warm.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(warm.stdout()).isEqualTo(plain.stdout())
                .contains("\"main\":true", "\"input\":\"abc\"", "\"argv\":[\"/workspace/main.js\"]");
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void aWaitingInterpreterTakesInputKeptOpenAfterItsGo(String runtime) throws Exception {
        awaitFull();
        var submission = pooled.submit(python(runtime, "import sys\nfor line in sys.stdin:\n"
                + "    print(line.strip().upper(), flush=True)\n").stdin("first\n").keepStdinOpen(true).build());
        var execution = pooled.services().executions().active(submission.executionId()).orElseThrow();

        var write = execution.writeStdin("second\n".getBytes(java.nio.charset.StandardCharsets.UTF_8), true,
                Duration.ofSeconds(30));
        ExecutionResult result = submission.result().get(60, java.util.concurrent.TimeUnit.SECONDS);

        assertThat(write.problem(7)).isNull();
        assertThat(result.pooled()).isTrue();
        assertThat(result.stdout()).isEqualTo("FIRST\nSECOND\n");
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void anUncaughtErrorEndsAsOnAColdStart(String runtime) {
        awaitFull();
        ExecutionRequest request = python(runtime, "import sys\nprint('before')\nsys.stdout.flush()\n"
                + "def f():\n    raise ValueError('boom')\nf()\n").build();

        ExecutionResult warm = pooled.run(request);
        ExecutionResult plain = cold.run(request);

        assertThat(warm.pooled()).isTrue();
        assertThat(warm.exitCode()).isEqualTo(1).isEqualTo(plain.exitCode());
        assertThat(warm.stdout()).isEqualTo("before\n");
        // The traceback shows the program's frames only, as `python3 FILE` prints it.
        assertThat(warm.stderr()).isEqualTo(plain.stderr()).startsWith("Traceback (most recent call last):\n"
                + "  File \"/workspace/main.py\", line 6, in <module>");
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void aPooledSandboxServesOneExecutionOnly(String runtime) {
        awaitFull();
        // The first run leaves a file, a background process and a changed interpreter state behind.
        ExecutionResult first = pooled.run(python(runtime, """
                import subprocess, sys
                open('/tmp/left-behind', 'w').write('secret')
                open('/workspace/left-behind', 'w').write('secret')
                subprocess.Popen(['sleep', '30'], start_new_session=True)
                sys.modules['os'].environ['LEFT'] = 'behind'
                print('done')
                """).build());
        assertThat(first.status()).as(first.stderr()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(first.pooled()).isTrue();
        awaitFull();

        ExecutionResult next = pooled.run(python(runtime, """
                import os
                print(os.path.exists('/tmp/left-behind'), os.path.exists('/workspace/left-behind'),
                      'LEFT' in os.environ, any(open('/proc/%s/cmdline' % p).read().startswith('sleep')
                      for p in os.listdir('/proc') if p.isdigit()))
                """).build());

        assertThat(next.pooled()).isTrue();
        assertThat(next.stdout()).isEqualTo("False False False False\n");
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void commandsTakeThePlainPoolAndOtherLimitsStartCold(String runtime) {
        awaitFull();
        ExecutionResult command = pooled.run(ExecutionRequest.builder().runtime(runtime).command("sh", "-c",
                "cat; id -u; pwd").stdin("in\n").userId("pool-test").build());
        ExecutionResult otherMemory = pooled.run(python(runtime, "print(1)")
                .limits(new LimitsRequest(null, 128L << 20, null, null, null)).build());
        awaitFull(); // the plain pool's sandbox is replaced once the command's has been removed
        ExecutionResult otherEnv = pooled.run(python(runtime, "import os; print(os.environ['X'])")
                .env(Map.of("X", "y")).build());

        assertThat(command.pooled()).isTrue();
        assertThat(command.stdout()).isEqualTo("in\n1000\n/workspace\n");
        assertThat(otherMemory.pooled()).as("a memory limit other than the pool's starts cold").isFalse();
        assertThat(otherMemory.stdout()).isEqualTo("1\n");
        // Another environment than the waiting interpreter's: the plain pool's sandbox starts python anew.
        assertThat(otherEnv.pooled()).isTrue();
        assertThat(otherEnv.stdout()).isEqualTo("y\n");
        assertThat(pooled.services().pool().status(new PoolKey(runtime, "host", "python")).orElseThrow()
                .misses(SandboxPool.Miss.MISMATCH)).isPositive();
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void limitsHoldInAPooledSandbox(String runtime) {
        awaitFull();
        ExecutionResult timeout = pooled.run(python(runtime, "import time\nwhile True: time.sleep(1)")
                .limits(new LimitsRequest(1500L, null, null, null, null)).build());
        awaitFull();
        ExecutionResult flood = pooled.run(python(runtime, "import sys\nwhile True: sys.stdout.write('x' * 65536)")
                .limits(new LimitsRequest(null, null, null, null, 100_000L)).build());
        awaitFull();
        ExecutionResult memory = pooled.run(python(runtime, "b = []\nwhile True: b.append(bytearray(1 << 20))")
                .build());

        assertThat(timeout.pooled()).isTrue();
        assertThat(timeout.status()).isEqualTo(ExecutionStatus.TIMEOUT);
        assertThat(timeout.durationMs()).isBetween(1400L, 10_000L);
        assertThat(flood.pooled()).isTrue();
        assertThat(flood.status()).isEqualTo(ExecutionStatus.OUTPUT_LIMIT);
        assertThat(flood.stdout().length()).isLessThanOrEqualTo(100_000);
        assertThat(memory.pooled()).isTrue();
        assertThat(memory.status()).isEqualTo(ExecutionStatus.OOM_KILLED);
    }

    @ParameterizedTest
    @MethodSource("runtimes")
    void aSandboxThatDiedWhileWaitingIsReplacedAndTheRequestServed(String runtime) throws Exception {
        awaitFull();
        PoolKey key = new PoolKey(runtime, "host", "python");
        long diedBefore = pooled.services().pool().status(key).orElseThrow().died();
        // Killed from the host: every container of this runtime is a ready pooled sandbox now.
        OciRuntime oci = (OciRuntime) pooled.services().registry().find(runtime).orElseThrow();
        for (String name : oci.listContainers()) {
            List<String> kill = new java.util.ArrayList<>(oci.command("kill", name, "KILL"));
            new ProcessBuilder(kill).inheritIO().start().waitFor();
        }

        ExecutionResult served = pooled.run(python(runtime, "print('still served')").build());

        assertThat(served.status()).as(served.stderr() + served.reason()).isEqualTo(ExecutionStatus.COMPLETED);
        assertThat(served.stdout()).isEqualTo("still served\n");
        awaitFull();
        PoolStatus after = pooled.services().pool().status(key).orElseThrow();
        // Found dead at the take, or by the sweep first: either way not handed out, and replaced.
        assertThat(after.died()).isGreaterThan(diedBefore);
        assertThat(after.ready()).isEqualTo(after.size());
    }

    @ParameterizedTest
    @MethodSource("runtimesAndMicrovm")
    void aSessionTakesAPooledSandbox(String runtime) throws Exception {
        awaitFull();
        PoolKey plain = new PoolKey(runtime, "host", null);
        long hitsBefore = pooled.services().pool().status(plain).orElseThrow().hits();

        SessionRecord session = pooled.openSession(new SessionRequest(null, runtime, null, null, null,
                Map.of("hello.txt", "hi"), null, null, null, "pool-test"));
        try {
            ExecutionResult first = pooled.run(ExecutionRequest.builder().sessionId(session.sessionId())
                    .userId("pool-test").command("sh", "-c", "cat hello.txt; echo kept > /tmp/k").build());
            ExecutionResult second = pooled.run(ExecutionRequest.builder().sessionId(session.sessionId())
                    .userId("pool-test").command("cat", "/tmp/k").build());

            assertThat(pooled.services().pool().status(plain).orElseThrow().hits()).isEqualTo(hitsBefore + 1);
            assertThat(first.stdout()).isEqualTo("hi");
            assertThat(second.stdout()).isEqualTo("kept\n");
        } finally {
            pooled.services().sessions().close("pool-test", session.sessionId());
        }
    }

    @Test
    void thePoolsRefillWithinTheirSizes() {
        awaitFull();
        List<ExecutionResult> results = Stream.of("a", "b", "c").map(s -> pooled.run(python("runc",
                "print('" + s + "')").build())).toList();

        assertThat(results).extracting(ExecutionResult::stdout).containsExactly("a\n", "b\n", "c\n");
        awaitFull();
        assertThat(pooled.services().pool().status()).allSatisfy(p -> {
            assertThat(p.ready() + p.filling()).isLessThanOrEqualTo(p.size());
            assertThat(p.failures()).as(p.key() + ": " + p.problem()).isZero();
        });
    }
}
