/**
 * Socket options of the TCP transport (server/tcp.ts). Deno cannot read an option back
 * (no getsockopt), so a child process runs a server under strace, which records the system calls
 * that set them.
 */
import assert from "node:assert/strict";
import { runScript } from "./process_helpers.ts";

const strace = await new Deno.Command("strace", { args: ["-V"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success).catch(() => false);

/** Starts a server, connects one plain client (which sets no option itself), and stops. */
const CHILD = (helpers: string) => `
import { startServer } from "${helpers}";
const server = await startServer();
const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
await conn.read(new Uint8Array(1024)); // the greeting: the server has set up the connection
conn.close();
await server.close({ removeData: true });
`;

Deno.test({
  name: "tcp: accepted connections send small lines at once (TCP_NODELAY)",
  ignore: !strace || Deno.build.os !== "linux",
  fn: async () => {
    // strace writes what it traced to stderr.
    const { stderr } = await runScript(CHILD(new URL("./helpers.ts", import.meta.url).href), {
      flags: ["-A"],
      wrapper: ["strace", "-f", "-qq", "-e", "trace=setsockopt"],
    });
    const calls = stderr.split("\n").filter((l) => l.includes("TCP_NODELAY"));
    assert.ok(
      calls.some((l) => l.includes("TCP_NODELAY, [1]")),
      `no TCP_NODELAY set on the accepted connection: ${calls.join(" | ") || "none"}`,
    );
  },
});

/** The same for the HTTP port, which carries the browser's WebSocket. */
const HTTP_CHILD = (webHelpers: string) => `
import { startWebServer } from "${webHelpers}";
const server = await startWebServer();
const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.httpPort });
await conn.write(new TextEncoder().encode("GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n"));
await conn.read(new Uint8Array(4096)); // the answer: the server has set up the connection
conn.close();
await server.close({ removeData: true });
`;

Deno.test({
  name:
    "http: accepted connections (WebSockets among them) send small frames at once (TCP_NODELAY)",
  ignore: !strace || Deno.build.os !== "linux",
  fn: async () => {
    const { stderr } = await runScript(
      HTTP_CHILD(new URL("./web_helpers.ts", import.meta.url).href),
      {
        // The page's modules come from the import map.
        flags: ["-A", "--config", new URL("../deno.json", import.meta.url).pathname],
        wrapper: ["strace", "-f", "-qq", "-e", "trace=setsockopt"],
      },
    );
    const calls = stderr.split("\n").filter((l) => l.includes("TCP_NODELAY"));
    assert.ok(
      calls.some((l) => l.includes("TCP_NODELAY, [1]")),
      `no TCP_NODELAY set on the accepted connection: ${calls.join(" | ") || "none"}`,
    );
  },
});
