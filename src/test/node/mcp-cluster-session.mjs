// A session opened on cluster node A, used through node B with the official MCP TypeScript SDK client over
// Streamable HTTP: B carries each tool call to A and answers with A's result.
// Run by io.mcpsandbox.cluster.ClusterMcpSessionSystemTest; exits non-zero on the first failed check.
//
// Environment: URL_A, URL_B (the /mcp endpoints), KEY (the session's user), KEY_OTHER (another user), NODE_A (A's
// node id). Prints "SESSION <id>" once the session is open and waits for a line on stdin before closing it.
import assert from "node:assert/strict";
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

let checks = 0;
const check = (name) => { checks++; console.log(`ok ${checks} - ${name}`); };

async function connect(url, key) {
  const client = new Client({ name: "mcp-sandbox-cluster-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
  }));
  return client;
}

const text = (result) => result.content.filter((c) => c.type === "text").map((c) => c.text).join("\n");

async function ok(client, name, args) {
  const r = await client.callTool({ name, arguments: args }, undefined, { timeout: 60000 });
  assert.equal(r.isError, false, `${name}: ${text(r)}`);
  return r;
}

async function main() {
  const onA = await connect(process.env.URL_A, process.env.KEY);
  let r = await ok(onA, "create_session", { idleTimeoutSeconds: 120 });
  const sid = r.structuredContent.sessionId;
  check("create_session on A");

  // The SDK client checks every structuredContent against the tool's outputSchema: forwarded ones too.
  const onB = await connect(process.env.URL_B, process.env.KEY);
  const logged = [];
  onB.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logged.push(n.params));
  r = await ok(onB, "write_file", { sessionId: sid, path: "/workspace/dir/in.txt", content: "from-b\n" });
  assert.equal(r.structuredContent.size, 7);
  check("write_file through B");

  r = await ok(onB, "execute_code", { sessionId: sid, language: "python", persistent: true, code: "x = 1" });
  assert.equal(r.structuredContent.status, "completed", text(r));
  r = await ok(onB, "execute_code", { sessionId: sid, language: "python", persistent: true, code: "x + 1" });
  assert.equal(r.structuredContent.result, "2", text(r));
  assert.match(text(r), /--- result ---\n2/);
  check("execute_code through B: the persistent interpreter on A keeps x");

  // An image the snippet writes on A comes back through B as image content, the same bytes.
  const png = [
    "import zlib, struct, base64",
    "def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))",
    "png = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 1, 1, 8, 2, 0, 0, 0))"
      + " + chunk(b'IDAT', zlib.compress(b'\\x00\\xff\\x00\\x00')) + chunk(b'IEND', b'')",
    "open('/workspace/dot.png', 'wb').write(png)",
    "print(base64.b64encode(png).decode())",
  ].join("\n");
  r = await ok(onB, "execute_code", { sessionId: sid, language: "python", code: png });
  const images = r.content.filter((c) => c.type === "image");
  assert.equal(images.length, 1, JSON.stringify(r.content.map((c) => c.type)));
  assert.equal(images[0].mimeType, "image/png");
  assert.equal(images[0].data, r.structuredContent.stdout.trim());
  assert.equal(images[0]._meta["io.mcpsandbox/path"], "/workspace/dot.png");
  check("execute_code through B returns the image the snippet wrote on A");

  // A sync execution's output arrives as logging notifications while it runs, and a non-zero exit stays a result.
  const progress = [];
  r = await onB.callTool({ name: "run_command", arguments: { sessionId: sid,
      command: ["sh", "-c", "cat /workspace/dir/in.txt; sleep 1; echo second; exit 3"] } },
    undefined, { onprogress: (p) => progress.push(p), timeout: 60000 });
  assert.equal(r.isError, false, text(r));
  assert.equal(r.structuredContent.exitCode, 3);
  assert.equal(r.structuredContent.stdout, "from-b\nsecond\n");
  const mine = logged.filter((n) => n._meta && n._meta.executionId === r.structuredContent.executionId);
  assert.equal(mine.filter((n) => n.logger === "stdout").map((n) => n.data).join(""), "from-b\nsecond\n");
  assert.equal(mine[0].data, "from-b\n", "the first line came by itself, while the program ran");
  assert.ok(progress.length >= 1, "progress notifications arrived");
  check(`run_command through B: output notifications (${mine.length}), progress (${progress.length})`);

  // background: the running placeholder at once; the execution runs on A.
  r = await ok(onB, "run_command", { sessionId: sid, background: true, command: ["sh", "-c", "sleep 1; echo bg"] });
  assert.equal(r.structuredContent.status, "running", text(r));
  assert.match(text(r), /running in the background as /);
  const bg = r.structuredContent.executionId;
  for (let i = 0; i < 100 && r.structuredContent.status === "running"; i++) {
    await new Promise((done) => setTimeout(done, 100));
    r = await ok(onA, "get_execution", { executionId: bg });
  }
  assert.equal(r.structuredContent.stdout, "bg\n", text(r));
  check("background run_command through B runs on A");

  r = await ok(onB, "read_file", { sessionId: sid, path: "/workspace/dir/in.txt" });
  assert.equal(r.structuredContent.content, "from-b\n");
  assert.equal(r.structuredContent.truncated, false);
  r = await ok(onB, "list_files", { sessionId: sid, dir: "/workspace/dir" });
  assert.deepEqual(r.structuredContent.entries.map((e) => e.name), ["in.txt"]);
  const res = await onB.readResource({ uri: `sandbox://sessions/${sid}/files/workspace/dir/in.txt` });
  assert.equal(res.contents[0].text, "from-b\n");
  await ok(onB, "write_file", { sessionId: sid, path: "/workspace/top.txt", content: "top" });
  const index = JSON.parse((await onB.readResource({ uri: "sandbox://sessions" })).contents[0].text);
  const listed = index.sessions.find((x) => x.sessionId === sid);
  assert.ok(listed && !listed.error, JSON.stringify(index));
  // (beside dot.png and the snippet's main.py, from execute_code above)
  assert.deepEqual(listed.files.find((f) => f.path === "/workspace/top.txt"),
    { uri: `sandbox://sessions/${sid}/files/workspace/top.txt`, path: "/workspace/top.txt", size: 3 });
  // What was written through B is in A's sandbox.
  r = await ok(onA, "read_file", { sessionId: sid, path: "/workspace/dir/in.txt" });
  assert.equal(r.structuredContent.content, "from-b\n");
  check("read_file, list_files, a resource read and the sessions index through B");

  r = await onB.callTool({ name: "read_file", arguments: { sessionId: sid, path: "/workspace/missing" } });
  assert.equal(r.isError, true);
  r = await onB.callTool({ name: "read_file", arguments: { sessionId: sid, path: "/workspace/../etc/passwd" } });
  assert.equal(r.isError, true);
  assert.match(text(r), /has an empty, '\.' or '\.\.' component/);
  check("refusals through B are tool errors");

  // Another user's key on B: the session does not exist for them, and nothing names A.
  const other = await connect(process.env.URL_B, process.env.KEY_OTHER);
  for (const [name, args] of [["read_file", { sessionId: sid, path: "/workspace/dir/in.txt" }],
    ["execute_code", { sessionId: sid, language: "python", code: "print(1)" }],
    ["close_session", { sessionId: sid }]]) {
    r = await other.callTool({ name, arguments: args });
    assert.equal(r.isError, true, `${name}: ${text(r)}`);
    assert.match(text(r), /^sessionId: no session /, name);
    assert.ok(!text(r).includes(process.env.NODE_A), text(r));
  }
  await assert.rejects(other.readResource({ uri: `sandbox://sessions/${sid}/files/workspace/dir/in.txt` }),
    /no session/);
  check("another user's key on B: no such session");

  // The Java side checks A's REST with forged routed headers while the session is open.
  console.log(`SESSION ${sid}`);
  const lines = createInterface({ input: process.stdin });
  await new Promise((done) => lines.once("line", done));
  lines.close();

  r = await ok(onB, "close_session", { sessionId: sid });
  assert.equal(r.structuredContent.status, "closed");
  r = await onB.callTool({ name: "read_file", arguments: { sessionId: sid, path: "/workspace/dir/in.txt" } });
  assert.equal(r.isError, true);
  assert.match(text(r), /is closed \(closed/);
  r = await onA.callTool({ name: "list_files", arguments: { sessionId: sid } });
  assert.equal(r.isError, true);
  assert.match(text(r), /is closed \(closed/);
  check("close_session through B closes it on A");

  await Promise.all([onA.close(), onB.close(), other.close()]);
  console.log(`OK ${checks} checks`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
