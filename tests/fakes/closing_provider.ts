/**
 * A loopback LibreTranslate stand-in that treats kept-alive connections as a provider behind a
 * proxy or load balancer can: it answers the first request on a connection and keeps the
 * connection open, then reads any further request on it and closes without an answer. Deno's
 * fetch, finding a pooled connection closed under a request, sends that request again on a new
 * one: the fake counts every request it received, so a test sees a call sent twice.
 *
 * With `drop: true` it closes every connection after reading its first request, unanswered.
 */

export interface ClosingProvider {
  /** The base URL to give `LibreTranslateTranslator`. */
  url: string;
  /** Requests received (read in full), answered or not. */
  readonly requests: number;
  /** Connections accepted. */
  readonly connections: number;
  close(): Promise<void>;
}

const utf8 = new TextEncoder();
const decoder = new TextDecoder();

/** Starts the fake on a free loopback port. */
export function startClosingProvider(options: { drop?: boolean } = {}): ClosingProvider {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let requests = 0;
  let connections = 0;
  const open = new Set<Deno.Conn>();
  const serving = new Set<Promise<void>>();

  const serve = async (conn: Deno.Conn) => {
    let buffered = "";
    const buf = new Uint8Array(65536);
    let answered = 0;
    try {
      while (true) {
        const request = await readRequest();
        if (request === undefined) return;
        requests++;
        if (options.drop || answered > 0) return; // closes, unanswered
        answered++;
        const { q, target } = JSON.parse(request) as { q: string[]; target: string };
        const body = JSON.stringify({ translatedText: q.map((t) => `${target}:${t}`) });
        await writeAll(
          conn,
          "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" +
            `content-length: ${utf8.encode(body).length}\r\n\r\n${body}`,
        );
      }
    } catch {
      /* the client went away */
    } finally {
      open.delete(conn);
      try {
        conn.close();
      } catch { /* closed */ }
    }

    /** One request's body (after its headers), or undefined at the end of the connection. */
    async function readRequest(): Promise<string | undefined> {
      while (true) {
        const head = buffered.indexOf("\r\n\r\n");
        if (head !== -1) {
          const length = Number(buffered.slice(0, head).match(/content-length: *(\d+)/i)?.[1] ?? 0);
          if (buffered.length >= head + 4 + length) {
            const body = buffered.slice(head + 4, head + 4 + length);
            buffered = buffered.slice(head + 4 + length);
            return body;
          }
        }
        const n = await conn.read(buf);
        if (n === null) return undefined;
        // The bodies are ASCII JSON in these tests, so characters and bytes agree.
        buffered += decoder.decode(buf.subarray(0, n));
      }
    }
  };

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        connections++;
        open.add(conn);
        const s = serve(conn);
        serving.add(s);
        s.finally(() => serving.delete(s));
      }
    } catch { /* closed */ }
  })();

  return {
    url: `http://127.0.0.1:${listener.addr.port}`,
    get requests() {
      return requests;
    },
    get connections() {
      return connections;
    },
    async close() {
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await accepting;
      await Promise.all(serving);
    },
  };
}

async function writeAll(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = utf8.encode(text);
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}
