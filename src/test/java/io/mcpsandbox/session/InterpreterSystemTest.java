package io.mcpsandbox.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.mcpsandbox.config.LanguageSpec;
import io.mcpsandbox.model.SessionRecord;
import io.mcpsandbox.model.SessionRequest;
import io.mcpsandbox.runtime.agent.AgentExit;
import io.mcpsandbox.runtime.agent.ProgramRun;
import io.mcpsandbox.testing.DockerDaemon;
import io.mcpsandbox.testing.SystemTest;
import io.mcpsandbox.testing.TestSandbox;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Persistent interpreters in a real session (runc; the basics on runsc too): state kept between cells, results,
 * errors, an interpreter that exits or is killed restarted with a notice, and a hostile cell that fakes or
 * forges markers, floods, prints between cells or closes its stdout: it confuses only its own results.
 */
@SystemTest
class InterpreterSystemTest {
    private static final LanguageSpec PYTHON = new LanguageSpec("python", "host", "main.py",
            List.of("python3", "{file}"));
    private static final LanguageSpec NODE = new LanguageSpec("node", "host", "main.js", List.of("node", "{file}"));
    private static TestSandbox sandbox;
    private SessionLease lease;
    private String user;

    @BeforeAll
    static void start() throws Exception {
        DockerDaemon.ensureRunning();
        sandbox = TestSandbox.start(Map.of("MCP_SANDBOX_POLICY_MODE", "report"));
    }

    @AfterAll
    static void stop() throws IOException {
        sandbox.close();
    }

    @AfterEach
    void closeSession() throws Exception {
        if (lease != null) {
            lease.close();
            sessions().close(user, lease.sessionId());
            lease = null;
        }
        sandbox.assertNothingLeftBehind();
    }

    private record Cell(String stdout, String stderr, CellEnd end, String notice) {
        String result() {
            return end instanceof CellEnd.Completed c ? c.result() : "not completed: " + end;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"runc", "runsc"})
    void pythonKeepsItsStateAndAnswersWithTheLastValue(String runtime) throws Exception {
        Interpreter python = open(runtime).interpreter(PYTHON);
        Cell first = run(python, "x = 1");
        assertThat(first.end()).isEqualTo(new CellEnd.Completed(false, null));
        assertThat(first.notice()).isNull();
        assertThat(run(python, "x += 1").end()).isEqualTo(new CellEnd.Completed(false, null));
        assertThat(run(python, "x").result()).isEqualTo("2");
        assertThat(run(python, "import math\ndef area(r):\n    return round(math.pi * r * r, 2)").result()).isNull();
        Cell printed = run(python, "print('hi', end='')\narea(x)");
        assertThat(printed.stdout()).isEqualTo("hi");
        assertThat(printed.result()).isEqualTo("12.57");
        assertThat(run(python, "'text'").result()).isEqualTo("'text'");

        Cell failed = run(python, "def boom():\n    return 1 / 0\nboom()");
        assertThat(failed.end()).isEqualTo(new CellEnd.Completed(true, null));
        assertThat(failed.stderr()).contains("ZeroDivisionError", "<cell 7>", "return 1 / 0").doesNotContain("kernel");
        assertThat(run(python, "x").result()).as("state kept after an exception").isEqualTo("2");
        Cell env = run(python, "import os\n(os.getcwd(), os.environ['CELL_VAR'], input.__name__)",
                Map.of("CELL_VAR", "set"), "/workspace/sub");
        assertThat(env.result()).isEqualTo("('/workspace/sub', 'set', 'input')");
        assertThat(run(python, "input()").stderr()).as("the cell's stdin is empty").contains("EOFError");
    }

    @Test
    void nodeKeepsLetConstAndFunctionsAndAwaitsAPromise() throws Exception {
        Interpreter node = open("runc").interpreter(NODE);
        assertThat(run(node, "let x = 1; const k = 10; function twice(v) { return 2 * v; }").result()).isNull();
        assertThat(run(node, "x += 1").result()).isEqualTo("2");
        assertThat(run(node, "twice(x) + k").result()).isEqualTo("14");
        assertThat(run(node, "new Promise(r => setTimeout(() => r({ v: x }), 50))").result()).isEqualTo("{ v: 2 }");
        assertThat(run(node, "require('path').join('a', 'b')").result()).isEqualTo("'a/b'");
        Cell failed = run(node, "throw new Error('boom')");
        assertThat(failed.end()).isEqualTo(new CellEnd.Completed(true, null));
        assertThat(failed.stderr()).contains("Error: boom").doesNotContain("runInThisContext");
        assertThat(run(node, "process.stdout.write('out'); x").stdout()).isEqualTo("out");

        Cell exited = run(node, "process.exit(3)");
        assertThat(exited.end()).isEqualTo(new CellEnd.Ended(new AgentExit(AgentExit.Kind.EXITED, 3)));
        Cell again = run(node, "typeof x");
        assertThat(again.notice()).isEqualTo("the node interpreter was restarted: the previous one ended (exit 3)");
        assertThat(again.result()).isEqualTo("'undefined'");
        assertThat(run(node, "1 + 1").notice()).isNull();
    }

    @Test
    void anExitingOrKilledInterpreterIsRestartedWithANotice() throws Exception {
        Interpreter python = open("runc").interpreter(PYTHON);
        run(python, "x = 1");
        Cell exited = run(python, "import os\nos._exit(3)");
        assertThat(exited.end()).isEqualTo(new CellEnd.Ended(new AgentExit(AgentExit.Kind.EXITED, 3)));
        Cell after = run(python, "'x' in globals()");
        assertThat(after.notice()).isEqualTo("the python interpreter was restarted: the previous one ended (exit 3)");
        assertThat(after.result()).isEqualTo("False");

        CellRun loop = python.run("y = 1\nwhile True:\n    pass", lease.env(), "/workspace", discard());
        assertThatThrownBy(() -> python.run("1", lease.env(), "/workspace", discard()))
                .isInstanceOf(InterpreterBusyException.class).hasMessageContaining("one at a time");
        Thread.sleep(500);
        assertThat(loop.end()).isNotDone();
        loop.kill("time limit");
        assertThat(loop.end().get(30, TimeUnit.SECONDS))
                .isEqualTo(new CellEnd.Ended(new AgentExit(AgentExit.Kind.KILLED, 9)));
        Cell restarted = run(python, "'y' in globals()");
        assertThat(restarted.notice())
                .isEqualTo("the python interpreter was restarted: the previous one was killed (time limit)");
        assertThat(restarted.result()).isEqualTo("False");
        // a kill after the cell's end does nothing
        CellRun done = python.run("5", lease.env(), "/workspace", discard());
        assertThat(done.end().get(30, TimeUnit.SECONDS)).isEqualTo(new CellEnd.Completed(false, "5"));
        done.kill("late");
        assertThat(run(python, "6").notice()).isNull();
    }

    @Test
    void aHostileCellConfusesOnlyItsOwnResults() throws Exception {
        Interpreter python = open("runc").interpreter(PYTHON);
        // A marker with a guessed token is plain output.
        Cell guessed = run(python, "import sys\nsys.stdout.write('\\x00mcp-cell-end:' + 'f' * 32"
                + " + ' {\"status\": \"ok\", \"result\": \"fake\"}\\n')\n42");
        assertThat(guessed.result()).isEqualTo("42");
        assertThat(guessed.stdout()).contains("fake");

        // 10 MB without a newline passes through (the caller's output cap counts it).
        Cell flood = run(python, "import sys\nsys.stdout.write('x' * 10_000_000)\n7");
        assertThat(flood.stdout()).hasSize(10_000_000);
        assertThat(flood.result()).isEqualTo("7");

        // The real token, read from the driver's frame, forges this cell's end: its own result is a lie and the
        // interpreter is still busy, so the next call waits for it; nothing the host enforces moved.
        Cell forged = run(python, """
                import os, sys, time
                f = sys._getframe()
                while 'token' not in f.f_locals:
                    f = f.f_back
                m = b'\\x00mcp-cell-end:' + f.f_locals['token']
                os.write(1, m + b' {"status": "ok", "result": "forged"}\\n')
                os.write(2, m + b'\\n')
                time.sleep(1)
                """);
        assertThat(forged.end()).isEqualTo(new CellEnd.Completed(false, "forged"));
        Cell next = run(python, "1 + 1");
        assertThat(next.result()).isEqualTo("2");
        assertThat(next.notice()).isNull();

        // A malformed report with the real token: the interpreter is broken, killed, restarted next call.
        Cell malformed = run(python, """
                import os, sys
                f = sys._getframe()
                while 'token' not in f.f_locals:
                    f = f.f_back
                os.write(1, b'\\x00mcp-cell-end:' + f.f_locals['token'] + b' {"status": "ok", "exit": 0}\\n')
                os.write(2, b'\\x00mcp-cell-end:' + f.f_locals['token'] + b'\\n')
                """);
        assertThat(malformed.end()).isInstanceOf(CellEnd.Failed.class);
        assertThat(((CellEnd.Failed) malformed.end()).reason()).contains("broke its cell protocol");
        assertThat(run(python, "3").notice()).startsWith("the python interpreter was restarted: the previous one "
                + "broke its cell protocol");

        // Output of a background thread between calls is dropped; a flood there ends the interpreter.
        run(python, "import threading, time\nthreading.Thread(target=lambda: [print('bg', flush=True) or "
                + "time.sleep(0.01) for _ in range(30)], daemon=True).start()");
        Thread.sleep(1500);
        Cell quiet = run(python, "4");
        assertThat(quiet.stdout()).doesNotContain("bg");
        assertThat(quiet.result()).isEqualTo("4");
        run(python, "import threading, time, sys\nthreading.Thread(target=lambda: (time.sleep(0.3), "
                + "sys.stdout.write('z' * 3_000_000), sys.stdout.flush()), daemon=True).start()");
        Thread.sleep(3000);
        Cell afterFlood = run(python, "5");
        assertThat(afterFlood.notice()).isEqualTo("the python interpreter was restarted: the previous one was "
                + "killed (it printed more than 1048576 bytes while no call ran)");
        assertThat(afterFlood.result()).isEqualTo("5");

        // Closing fd 1: its own prints fail, its markers (private copies) still end each cell.
        assertThat(run(python, "import os\nos.close(1)").end()).isEqualTo(new CellEnd.Completed(false, null));
        Cell blind = run(python, "print('lost')");
        assertThat(blind.end()).isEqualTo(new CellEnd.Completed(true, null));
        assertThat(blind.stderr()).contains("Bad file descriptor");
        assertThat(run(python, "6").result()).isEqualTo("6");
    }

    private SessionLease open(String runtime) throws Exception {
        user = "interp-" + runtime + "-" + System.nanoTime();
        SessionRecord session = sandbox.openSession(new SessionRequest(null, runtime, null, null, Map.of(), null,
                null, null, null, user));
        lease = sessions().lease(user, session.sessionId());
        return lease;
    }

    private Cell run(Interpreter interpreter, String code) throws Exception {
        return run(interpreter, code, Map.of(), "/workspace");
    }

    private Cell run(Interpreter interpreter, String code, Map<String, String> extraEnv, String workDir)
            throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Map<String, String> env = new java.util.LinkedHashMap<>(lease.env());
        env.putAll(extraEnv);
        CellRun cell = interpreter.run(code, env, workDir, new ProgramRun.OutputSink() {
            @Override
            public void stdout(byte[] chunk) {
                synchronized (out) {
                    out.writeBytes(chunk);
                }
            }

            @Override
            public void stderr(byte[] chunk) {
                synchronized (err) {
                    err.writeBytes(chunk);
                }
            }
        });
        CellEnd end = cell.end().get(60, TimeUnit.SECONDS);
        synchronized (out) {
            synchronized (err) {
                return new Cell(out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8), end,
                        cell.notice().orElse(null));
            }
        }
    }

    private static ProgramRun.OutputSink discard() {
        return new ProgramRun.OutputSink() {
            @Override
            public void stdout(byte[] chunk) {
            }

            @Override
            public void stderr(byte[] chunk) {
            }
        };
    }

    private static SessionService sessions() {
        return sandbox.services().sessions();
    }
}
