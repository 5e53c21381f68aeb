/**
 * The behaviour every translation provider must have. Each provider's test file calls
 * `runTranslatorConformance` with a factory; the suite knows nothing of the service behind it,
 * so its checks hold for a fake and for a real engine alike.
 */
import assert from "node:assert/strict";
import {
  TranslateError,
  type TranslateErrorCode,
  type Translator,
} from "../lib/translate/translator.ts";
import { freePort } from "./apertium.ts";

export interface ConformanceSubject {
  /** A translator talking to a working service. */
  translator: Translator;
  /** The same provider, configured the same way, against another base URL. */
  at(baseUrl: string): Translator;
  /** A language pair the service translates (the suite's texts are English). */
  source: string;
  target: string;
  /** Stops the service (and whatever else `open` started). */
  close(): Promise<void>;
}

/** Whether `err` is a TranslateError with `code`, for `assert.rejects`. */
export function isTranslateError(code: TranslateErrorCode): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof TranslateError, `expected a TranslateError, got ${err}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return true;
  };
}

/** Registers the shared suite as `${name}: …` tests. */
export function runTranslatorConformance(
  name: string,
  open: () => Promise<ConformanceSubject>,
): void {
  const test = (what: string, fn: (subject: ConformanceSubject) => Promise<void>) =>
    Deno.test(`${name}: ${what}`, async () => {
      const subject = await open();
      try {
        await fn(subject);
      } finally {
        subject.translator.close?.();
        await subject.close();
      }
    });
  const call = (subject: ConformanceSubject, texts: string[], signal?: AbortSignal) =>
    subject.translator.translate({
      texts,
      source: subject.source,
      target: subject.target,
      signal: signal ?? AbortSignal.timeout(10_000),
    });

  test("answers an empty batch with an empty list", async (subject) => {
    assert.deepEqual(await call(subject, []), []);
  });

  test("translates a batch in order, one result per text", async (subject) => {
    const texts = ["Hello", "Good morning", "The dog"];
    const batch = await call(subject, texts);
    assert.equal(batch.length, texts.length);
    // Whatever the engine makes of each text alone, the batch must give the same, in order.
    const singles = [];
    for (const text of texts) singles.push(...await call(subject, [text]));
    assert.deepEqual(batch.map((t) => t.text), singles.map((t) => t.text));
    for (const [i, t] of batch.entries()) {
      assert.equal(typeof t.text, "string");
      assert.notEqual(t.text, texts[i], `"${texts[i]}" came back untranslated`);
    }
  });

  test("leaves placeholders intact", async (subject) => {
    const [out] = await call(subject, ["Hello ⟦0⟧, the dog ⟦1⟧ "]);
    assert.equal(out.text.split("⟦0⟧").length, 2, out.text);
    assert.equal(out.text.split("⟦1⟧").length, 2, out.text);
  });

  test("keeps <b> and & as literal text", async (subject) => {
    const [out] = await call(subject, ["Hello <b>dog</b> & cat"]);
    for (const piece of ["<b>", "</b>", " & "]) assert.ok(out.text.includes(piece), out.text);
    assert.ok(!/&(amp|lt|gt|#\d+);/.test(out.text), `entities in ${out.text}`);
  });

  test("fails with timeout on a signal that is already aborted", async (subject) => {
    await assert.rejects(
      call(subject, ["Hello"], AbortSignal.abort()),
      isTranslateError("timeout"),
    );
  });

  test("fails with timeout when the service never answers", async (subject) => {
    const hole = startBlackHole();
    const translator = subject.at(hole.url);
    try {
      const started = Date.now();
      await assert.rejects(
        translator.translate({
          texts: ["Hello"],
          source: subject.source,
          target: subject.target,
          signal: AbortSignal.timeout(200),
        }),
        isTranslateError("timeout"),
      );
      const took = Date.now() - started;
      assert.ok(took < 3_000, `the deadline was honoured late (${took} ms)`);
    } finally {
      translator.close?.();
      await hole.close();
    }
  });

  test("fails with unavailable when nothing listens", async (subject) => {
    const translator = subject.at(`http://127.0.0.1:${freePort()}`);
    try {
      await assert.rejects(
        translator.translate({
          texts: ["Hello"],
          source: subject.source,
          target: subject.target,
          signal: AbortSignal.timeout(5_000),
        }),
        isTranslateError("unavailable"),
      );
    } finally {
      translator.close?.();
    }
  });
}

/** A TCP server that accepts connections and never answers: a hung service. */
function startBlackHole(): { url: string; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) conns.push(conn);
    } catch { /* closed */ }
  })();
  return {
    url: `http://127.0.0.1:${listener.addr.port}`,
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* the client closed it */ }
      }
      await accepting;
    },
  };
}
