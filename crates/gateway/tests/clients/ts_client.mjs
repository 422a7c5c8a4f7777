// Drives a Gig'MCP profile endpoint with the official TypeScript MCP SDK client.
// Usage: node ts_client.mjs URL TOKEN — prints {tools, text} as JSON.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "gigmcp-test", version: "0.0.1" });
await client.connect(transport);
const tools = await client.listTools();
const result = await client.callTool({ name: "echo_echo", arguments: { message: "hello" } });
console.log(JSON.stringify({ tools: tools.tools.map((t) => t.name), text: result.content[0].text }));
await transport.terminateSession();
await client.close();
