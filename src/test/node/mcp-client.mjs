// Drives mcp-sandbox with the official MCP TypeScript SDK client, over stdio or Streamable HTTP.
// Run by io.mcpsandbox.api.NodeClientsTest; exits non-zero on the first failed check.
//
// Environment: MODE=stdio|http.
//   stdio: JAVA_BIN, JAVA_CP (the server's classpath), SERVER_ENV (JSON object of extra server variables).
//   http:  MCP_URL, MCP_KEY (user A), MCP_KEY_B (user B).
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const mode = process.env.MODE;
let checks = 0;
const check = (name) => { checks++; console.log(`ok ${checks} - ${name}`); };

async function connect(key) {
  const client = new Client({ name: "mcp-sandbox-node-test", version: "1.0.0" });
  let transport;
  if (mode === "stdio") {
    transport = new StdioClientTransport({
      command: process.env.JAVA_BIN,
      args: ["--enable-native-access=ALL-UNNAMED", "-cp", process.env.JAVA_CP, "io.mcpsandbox.cli.Main", "serve", "--stdio"],
      env: { ...process.env, ...JSON.parse(process.env.SERVER_ENV || "{}") },
      stderr: "inherit",
    });
  } else {
    transport = new StreamableHTTPClientTransport(new URL(process.env.MCP_URL), {
      requestInit: { headers: { Authorization: `Bearer ${key}` } },
    });
  }
  await client.connect(transport);
  return client;
}

const text = (result) => result.content.filter((c) => c.type === "text").map((c) => c.text).join("\n");

async function main() {
  const a = await connect(process.env.MCP_KEY);

  const { tools } = await a.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(), ["close_session", "create_session", "execute_code",
    "get_execution", "list_active_executions", "list_files", "list_runtimes", "list_sessions", "read_file",
    "run_command", "terminate_execution", "write_file", "write_stdin"]);
  const exec = tools.find((t) => t.name === "execute_code");
  assert.deepEqual(exec.inputSchema.required, ["language", "code"]);
  assert.ok(exec.inputSchema.properties.limits.properties.timeoutMs.maximum > 0, "timeout maximum is stated");
  assert.ok(exec.inputSchema.properties.language.enum.includes("python"));
  assert.ok(exec.outputSchema, "execute_code has an output schema");
  check("tools/list: thirteen tools with schemas");
  // Output while a program runs arrives as logging notifications (logger stdout or stderr).
  const logged = [];
  a.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logged.push({ ...n.params, at: Date.now() }));

  // The SDK client validates structuredContent against outputSchema: a mismatch would throw here.
  let r = await a.callTool({ name: "execute_code", arguments: { language: "python", code: "print(6*7)" } });
  assert.equal(r.isError, false, text(r));
  assert.equal(r.structuredContent.status, "completed");
  assert.equal(r.structuredContent.exitCode, 0);
  assert.equal(r.structuredContent.stdout, "42\n");
  assert.match(text(r), /completed/);
  check("execute_code runs python");

  r = await a.callTool({ name: "execute_code", arguments: { language: "python", code: "import sys\nprint('x', file=sys.stderr)\nsys.exit(3)" } });
  assert.equal(r.isError, false, "a non-zero exit is a normal result");
  assert.equal(r.structuredContent.exitCode, 3);
  assert.equal(r.structuredContent.stderr, "x\n");
  check("non-zero exit is not an MCP error");

  r = await a.callTool({ name: "execute_code", arguments: { language: "cobol", code: "DISPLAY 1" } });
  assert.equal(r.isError, true);
  assert.equal(r.structuredContent.status, "rejected");
  assert.match(r.structuredContent.reason, /^language: /);
  check("unknown language is an isError result naming the field");

  r = await a.callTool({ name: "execute_code", arguments: { language: "python", code: 5 } });
  assert.equal(r.isError, true);
  assert.match(text(r), /code: must be a string/);
  r = await a.callTool({ name: "execute_code", arguments: { language: "python", code: "1", bogus: true } });
  assert.equal(r.isError, true);
  assert.match(text(r), /bogus: is not a known field/);
  r = await a.callTool({ name: "execute_code", arguments: { language: "python" } });
  assert.equal(r.isError, true);
  assert.match(text(r), /code: is required/);
  r = await a.callTool({ name: "execute_code", arguments: { language: "python", code: "1", limits: { timeoutMs: -5 } } });
  assert.equal(r.isError, true);
  assert.match(r.structuredContent.reason, /timeoutMs/);
  r = await a.callTool({ name: "run_command", arguments: { command: "echo hi" } });
  assert.equal(r.isError, true);
  assert.match(text(r), /command: must be an array/);
  check("bad arguments are isError results naming the field");

  r = await a.callTool({ name: "run_command", arguments: { command: ["sh", "-c", "echo $GREETING"], env: { GREETING: "hello" } } });
  assert.equal(r.isError, false, text(r));
  assert.equal(r.structuredContent.stdout, "hello\n");
  check("run_command runs an argv with env");

  r = await a.callTool({ name: "list_runtimes", arguments: {} });
  assert.ok(r.structuredContent.runtimes.some((x) => x.name === "runc" && x.usable));
  check("list_runtimes");

  // Progress: a token makes the server report elapsed time and output bytes while the program runs.
  const progress = [];
  r = await a.callTool({ name: "execute_code", arguments: { language: "python",
      code: "import time,sys\nfor i in range(3):\n  print(i, flush=True)\n  time.sleep(0.9)" } },
    undefined, { onprogress: (p) => progress.push(p), timeout: 60000 });
  assert.equal(r.structuredContent.status, "completed", text(r));
  assert.ok(progress.length >= 1, "progress notifications arrived");
  assert.match(progress[0].message, /running for .* s; \d+ output bytes so far/);
  check(`progress notifications (${progress.length})`);
  const mine = logged.filter((n) => n._meta && n._meta.executionId === r.structuredContent.executionId);
  assert.deepEqual(mine.filter((n) => n.logger === "stdout").map((n) => n.data).join(""), "0\n1\n2\n");
  assert.equal(mine[0].data, "0\n", "the first line came by itself, while the program ran");
  check(`output as logging notifications while it runs (${mine.length})`);

  const id = r.structuredContent.executionId;
  r = await a.callTool({ name: "get_execution", arguments: { executionId: id } });
  assert.equal(r.structuredContent.executionId, id);
  assert.equal(r.structuredContent.stdout, "0\n1\n2\n");
  check("get_execution returns the stored result");

  // Terminate a running execution: from a second client over HTTP, from the same (concurrent) client on stdio.
  const b = mode === "http" ? await connect(process.env.MCP_KEY) : a;
  const running = a.callTool({ name: "execute_code", arguments: { language: "python", code: "import time\ntime.sleep(60)" } },
    undefined, { timeout: 90000 });
  let active = [];
  for (let i = 0; i < 100 && active.length === 0; i++) {
    active = (await b.callTool({ name: "list_active_executions", arguments: {} })).structuredContent.executions;
    if (active.length === 0) await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(active.length, 1, "the sleeping execution is listed as active");
  if (mode === "http") {
    const other = await connect(process.env.MCP_KEY_B);
    const theirs = (await other.callTool({ name: "list_active_executions", arguments: {} })).structuredContent.executions;
    assert.equal(theirs.length, 0, "another user does not see it");
    const denied = await other.callTool({ name: "terminate_execution", arguments: { executionId: active[0].executionId } });
    assert.equal(denied.isError, true, "another user cannot terminate it");
    await other.close();
    check("another user neither sees nor terminates it");
  }
  const t = await b.callTool({ name: "terminate_execution", arguments: { executionId: active[0].executionId } });
  assert.equal(t.isError, false, text(t));
  assert.equal(t.structuredContent.outcome, "terminating");
  r = await running;
  assert.equal(r.structuredContent.status, "terminated");
  assert.ok(r.structuredContent.durationMs < 30000);
  check("terminate_execution stops a running execution");
  if (b !== a) await b.close();

  // A session: create -> write_file -> execute_code in it -> read_file -> list_files -> close. The SDK client
  // validates every structuredContent against the tool's outputSchema.
  r = await a.callTool({ name: "create_session", arguments: { idleTimeoutSeconds: 120, env: { MODE: "session" } } });
  assert.equal(r.isError, false, text(r));
  const sid = r.structuredContent.sessionId;
  assert.equal(r.structuredContent.status, "open");
  r = await a.callTool({ name: "write_file", arguments: { sessionId: sid, path: "/workspace/in/data.txt", content: "21\n" } });
  assert.equal(r.isError, false, text(r));
  r = await a.callTool({ name: "execute_code", arguments: { sessionId: sid, language: "python",
      code: "import os\nn = int(open('in/data.txt').read())\nopen('out.txt', 'w').write(str(2 * n))\nprint(os.environ['MODE'])" } });
  assert.equal(r.isError, false, text(r));
  assert.equal(r.structuredContent.stdout, "session\n");
  r = await a.callTool({ name: "read_file", arguments: { sessionId: sid, path: "/workspace/out.txt" } });
  assert.equal(r.isError, false, text(r));
  assert.equal(r.structuredContent.content, "42");
  // Notebook mode: the interpreter keeps its state between calls; the last expression comes back as result.
  r = await a.callTool({ name: "execute_code", arguments: { sessionId: sid, language: "python", persistent: true,
      code: "import math\nx = int(open('in/data.txt').read())" } });
  assert.equal(r.structuredContent.status, "completed", text(r));
  r = await a.callTool({ name: "execute_code", arguments: { sessionId: sid, language: "python", persistent: true,
      code: "x += 21\nmath.sqrt(x * x)" } });
  assert.equal(r.structuredContent.result, "42.0", text(r));
  assert.match(text(r), /--- result ---\n42\.0/);
  check("execute_code persistent keeps state and returns the last value");
  // Background with stdin kept open: write_stdin feeds it, get_execution shows its output so far.
  r = await a.callTool({ name: "run_command", arguments: { sessionId: sid, background: true, keepStdinOpen: true,
      command: ["python3", "-u", "-c", "import sys\nfor l in sys.stdin: print('got', l.strip())"] } });
  assert.equal(r.structuredContent.status, "running", text(r));
  const bg = r.structuredContent.executionId;
  r = await a.callTool({ name: "write_stdin", arguments: { executionId: bg, data: "ping\n" } });
  assert.equal(r.structuredContent.bytesWritten, 5, text(r));
  for (let i = 0; i < 100; i++) {
    r = await a.callTool({ name: "get_execution", arguments: { executionId: bg } });
    if (r.structuredContent.stdout === "got ping\n") break;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  assert.equal(r.structuredContent.stdout, "got ping\n", text(r));
  r = await a.callTool({ name: "write_stdin", arguments: { executionId: bg, eof: true } });
  assert.equal(r.structuredContent.stdinClosed, true, text(r));
  for (let i = 0; i < 100 && r.structuredContent.status !== "completed"; i++) {
    await new Promise((ok) => setTimeout(ok, 100));
    r = await a.callTool({ name: "get_execution", arguments: { executionId: bg } });
  }
  assert.equal(r.structuredContent.status, "completed", text(r));
  check("background run_command fed by write_stdin");
  r = await a.callTool({ name: "list_files", arguments: { sessionId: sid } });
  assert.ok(r.structuredContent.entries.some((e) => e.name === "out.txt" && e.type === "file"), text(r));
  r = await a.callTool({ name: "list_sessions", arguments: {} });
  assert.ok(r.structuredContent.sessions.some((x) => x.sessionId === sid));
  if (mode === "http") {
    const other = await connect(process.env.MCP_KEY_B);
    const denied = await other.callTool({ name: "read_file", arguments: { sessionId: sid, path: "/workspace/out.txt" } });
    assert.equal(denied.isError, true, "another user cannot read it");
    assert.match(text(denied), /no session/);
    await other.close();
  }
  r = await a.callTool({ name: "close_session", arguments: { sessionId: sid } });
  assert.equal(r.isError, false, text(r));
  assert.equal(r.structuredContent.status, "closed");
  r = await a.callTool({ name: "read_file", arguments: { sessionId: sid, path: "/workspace/out.txt" } });
  assert.equal(r.isError, true);
  assert.match(text(r), /is closed \(closed/);
  check("a session: create, write_file, execute_code (persistent), read_file, list_files, close");

  await a.close();
  console.log(`OK ${checks} checks (${mode})`);
}

main().catch((e) => {
  console.error(`FAILED after ${checks} checks (${mode}):`, e);
  process.exit(1);
});
