// Reads session files as MCP resources with the official MCP TypeScript SDK client over Streamable HTTP.
// Run by io.mcpsandbox.api.NodeResourcesTest; exits non-zero on the first failed check.
//
// Environment: MCP_URL, MCP_KEY (user A), MCP_KEY_B (user B).
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

let checks = 0;
const check = (name) => { checks++; console.log(`ok ${checks} - ${name}`); };

async function connect(key) {
  const client = new Client({ name: "mcp-sandbox-node-resources", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(process.env.MCP_URL), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
  }));
  return client;
}

const text = (result) => result.content.filter((c) => c.type === "text").map((c) => c.text).join("\n");

async function call(client, name, args) {
  const r = await client.callTool({ name, arguments: args });
  assert.equal(r.isError, false, `${name}: ${text(r)}`);
  return r.structuredContent;
}

// A 1x1 PNG.
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNgYGAAAAAEAAH2FzhVAAAAAElFTkSuQmCC";

async function main() {
  const a = await connect(process.env.MCP_KEY);
  const b = await connect(process.env.MCP_KEY_B);
  assert.ok(a.getServerCapabilities().resources, "the server offers resources");

  const { resourceTemplates } = await a.listResourceTemplates();
  assert.deepEqual(resourceTemplates.map((t) => t.uriTemplate), ["sandbox://sessions/{sessionId}/files/{+path}"]);
  const { resources } = await a.listResources();
  assert.deepEqual(resources.map((r) => r.uri), ["sandbox://sessions"]);
  check("resources/templates/list and resources/list");

  const { sessionId } = await call(a, "create_session", { runtime: "runc" });
  try {
    await call(a, "write_file", { sessionId, path: "/workspace/data/notes.md", content: "# hi\n" });
    await call(a, "write_file", { sessionId, path: "/workspace/chart.png", contentBase64: PNG });
    const base = `sandbox://sessions/${sessionId}/files/workspace/`;

    let r = await a.readResource({ uri: `${base}data/notes.md` });
    assert.equal(r.contents.length, 1);
    assert.equal(r.contents[0].text, "# hi\n");
    assert.equal(r.contents[0].mimeType, "text/markdown");
    check("a nested text file reads as text");

    r = await a.readResource({ uri: `${base}chart.png` });
    assert.equal(r.contents[0].mimeType, "image/png");
    assert.equal(r.contents[0].blob, PNG);
    check("an image reads as a base64 blob with its type");

    r = await a.readResource({ uri: "sandbox://sessions" });
    const index = JSON.parse(r.contents[0].text);
    assert.equal(index.sessions.length, 1);
    assert.equal(index.sessions[0].sessionId, sessionId);
    assert.deepEqual(index.sessions[0].files.map((f) => f.uri), [`${base}chart.png`]);
    check("the index lists the caller's session files");

    await assert.rejects(b.readResource({ uri: `${base}chart.png` }), (e) => e.code === -32002
      && /no session/.test(e.message));
    r = await b.readResource({ uri: "sandbox://sessions" });
    assert.deepEqual(JSON.parse(r.contents[0].text), { sessions: [] });
    check("another user's session is not found, and not in their index");

    await assert.rejects(a.readResource({ uri: `sandbox://sessions/${sessionId}/files/etc/passwd` }),
      (e) => e.code === -32602 && /outside/.test(e.message));
    check("a path outside /workspace and /tmp is refused");
  } finally {
    await call(a, "close_session", { sessionId });
  }
  await a.close();
  await b.close();
  console.log(`${checks} checks passed`);
}

main().catch((e) => { console.error(e); process.exit(1); });
