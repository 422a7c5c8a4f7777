// Drives the gateway's per-call and session features with the official TypeScript MCP SDK client.
// Usage: node ts_features.mjs URL TOKEN   (a profile whose one server is `library`, named `lib`)
//
//   progress   lib_slow with onprogress, aborted (AbortSignal) after the first progress; then
//              lib_cancelled, which lists the cancellations the backend received;
//   ask        lib_ask, answered by the elicitation/create request handler;
//   sample     lib_sample, answered by the sampling/createMessage request handler;
//   resources  resources/subscribe of gigmcp://lib/doc://readme, lib_touch, and the
//              notifications/resources/updated that arrives;
//   grow       lib_grow adds a tool at run time: the client's listChanged.tools handler fires
//              (notifications/tools/list_changed) with a refreshed list holding lib_grown.
// Prints one JSON object with what happened (the Rust test asserts on it).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const README = "gigmcp://lib/doc://readme";
const WAIT_MS = 10_000;

const [url, token] = process.argv.slice(2);
const out = {};

/** A promise with its resolver, and a bounded wait on it (resolves to `undefined` on timeout). */
function signal() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  const wait = (ms = WAIT_MS) => {
    let timer;
    const timeout = new Promise((r) => (timer = setTimeout(r, ms)));
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  };
  return { resolve, promise, wait };
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const toolsChanged = signal();
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client(
  { name: "gigmcp-features", version: "0.0.1" },
  {
    capabilities: { elicitation: {}, sampling: {} },
    listChanged: {
      tools: {
        debounceMs: 0,
        onChanged: (error, tools) =>
          toolsChanged.resolve(error ? { error: String(error) } : { tools: tools.map((t) => t.name).sort() }),
      },
    },
  },
);
const asked = {};
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  asked.elicitation = request.params.message;
  return { action: "accept", content: { name: "Ana" } };
});
client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
  asked.sampling = request.params.messages[0].content.text;
  return { role: "assistant", content: { type: "text", text: "4" }, model: "test-model" };
});
const updated = signal();
client.setNotificationHandler(ResourceUpdatedNotificationSchema, (note) => updated.resolve(note.params));

await client.connect(transport);
out.protocol = transport.protocolVersion ?? null;
const text = async (name) => (await client.callTool({ name, arguments: {} })).content[0].text;
out.tools_before = (await client.listTools()).tools.map((t) => t.name).sort();

// progress, then the caller aborts after the first progress
const progress = [];
const abort = new AbortController();
try {
  await client.callTool({ name: "lib_slow", arguments: {} }, undefined, {
    signal: abort.signal,
    timeout: WAIT_MS,
    onprogress: (p) => {
      progress.push(p);
      abort.abort("user gave up");
    },
  });
  out.slow_returned = true; // never: lib_slow only ends when cancelled
} catch (e) {
  out.slow_error = String(e);
}
out.slow_aborted = abort.signal.aborted;
out.progress = progress;
// the notifications/cancelled POST is not awaited by callTool: poll until the backend lists it
let seen = "";
for (const end = Date.now() + WAIT_MS; !seen && Date.now() < end; ) {
  seen = await text("lib_cancelled");
  if (!seen) await sleep(100);
}
out.cancelled_seen = seen ? seen.split("\n") : [];

// the backend's elicitation and sampling requests, answered by our handlers
out.ask = await text("lib_ask");
out.sample = await text("lib_sample");
out.asked = asked;

// a resource subscription; the GET stream is opened in the background after the handshake,
// so touch again if the first one went nowhere
await client.subscribeResource({ uri: README });
let touches = 0;
let note;
while (!note && touches < 3) {
  touches += 1;
  out.touch = await text("lib_touch");
  note = await updated.wait(WAIT_MS / 2);
}
out.touches = touches;
out.updated = note ?? null;

// a tool added at run time
out.grow = await text("lib_grow");
out.tools_changed = (await toolsChanged.wait()) ?? null;
if (out.tools_changed?.tools?.includes("lib_grown")) out.grown = await text("lib_grown");

console.log(JSON.stringify(out));
await transport.terminateSession();
await client.close();
