/**
 * Runs a real Apertium APy server for tests, on a free port of its own (one may already be
 * running on 2737; tests must not depend on or disturb it). CI installs `apertium-apy` and
 * `apertium-eng-spa` (see `.ci/run`); without them the tests fail with a clear message rather
 * than skip, since translation through Apertium is what they check.
 */

export interface ApertiumServer {
  /** The base URL to give `ApertiumTranslator` (`http://127.0.0.1:PORT`). */
  url: string;
  /** What APy printed so far, for failure messages. */
  output(): string;
  /** Stops APy (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  close(): Promise<void>;
}

export interface StartApertiumOptions {
  /** The directory of installed pair modes; defaults to `/usr/share/apertium/modes`. */
  modesDir?: string;
  /** How long to wait for `/listPairs` to answer, in ms; defaults to 20 s. */
  readyTimeoutMs?: number;
}

const MODES_DIR = "/usr/share/apertium/modes";
/** Runs apertium-apy bound to 127.0.0.1 only. */
export const LOOPBACK_APY =
  new URL("../scripts/apertium_apy_loopback.py", import.meta.url).pathname;
const MAX_OUTPUT_CHARS = 20_000;

/**
 * Starts `apertium-apy` on a free port and waits until `/listPairs` answers with at least one
 * pair.
 * @throws {Error} when APy is not installed, has no pairs, exits early or does not get ready.
 */
export async function startApertium(options: StartApertiumOptions = {}): Promise<ApertiumServer> {
  const modesDir = options.modesDir ?? MODES_DIR;
  const port = freePort();
  let child: Deno.ChildProcess;
  try {
    // Through the wrapper the README shows: APy itself would listen on every interface.
    child = new Deno.Command(LOOPBACK_APY, {
      args: ["-p", String(port), modesDir],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw notInstalled();
    throw err;
  }

  let out = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const bytes of stream) {
      // APy logs every request; keep the start (the interesting part) and drop the rest.
      if (out.length < MAX_OUTPUT_CHARS) out += decoder.decode(bytes, { stream: true });
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const url = `http://127.0.0.1:${port}`;

  const close = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* exited meanwhile */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited meanwhile */ }
      }, 5_000);
      try {
        await status;
      } finally {
        clearTimeout(timer);
      }
    }
    await status;
    await pumps;
  };

  try {
    const pairs = await waitForPairs(url, options.readyTimeoutMs ?? 20_000, () => exited);
    if (pairs === 0) {
      throw new Error(
        `apertium-apy found no language pairs in ${modesDir} ` +
          "(apt-get install apertium-eng-spa)",
      );
    }
  } catch (err) {
    await close();
    if (out.includes("No module named 'apertium_apy'")) throw notInstalled();
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`apertium-apy did not start: ${why}\n${out}`);
  }
  return { url, output: () => out, close };
}

function notInstalled(): Error {
  return new Error(
    "apertium-apy is not installed: the translation tests need a real Apertium " +
      "(apt-get install apertium-apy apertium-eng-spa; .ci/run does this)",
  );
}

/** A port nothing listens on right now: the OS picks one, and we let it go. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Polls `/listPairs` until it answers; returns the number of pairs. */
async function waitForPairs(url: string, timeoutMs: number, exited: () => boolean) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (exited()) throw new Error("the process exited");
    // A timer of our own, cleared each round: a pending one would trip the op sanitizer.
    const attempt = new AbortController();
    const timer = setTimeout(() => attempt.abort(), 2_000);
    try {
      const response = await fetch(`${url}/listPairs`, { signal: attempt.signal });
      const body = await response.text();
      if (response.ok) {
        const pairs = JSON.parse(body)?.responseData;
        if (Array.isArray(pairs)) return pairs.length;
      }
      last = `HTTP ${response.status}: ${body.slice(0, 200)}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    } finally {
      clearTimeout(timer);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`/listPairs did not answer within ${timeoutMs} ms (${last})`);
}
