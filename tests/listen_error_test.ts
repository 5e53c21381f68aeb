/** A port that cannot be listened on stops a real server process with what to do about it. */
import assert from "node:assert/strict";
import { build } from "../build.ts";
import { runServerToExit } from "./process_helpers.ts";

for (const which of ["tcp", "http"] as const) {
  Deno.test(`the ${which.toUpperCase()} port in use names its flag and another Parley`, async () => {
    // The HTTP listener starts only when the browser assets are built.
    if (which === "http") await build({ ifStale: true, quiet: true });
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const dataDir = await Deno.makeTempDir({ prefix: "parley-inuse-" });
    try {
      const port = taken.addr.port;
      const { code, output } = await runServerToExit(dataDir, [`--${which}-port`, String(port)]);
      assert.equal(code, 1, output);
      assert.match(output, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is`));
      assert.match(output, /another Parley/);
      assert.match(output, new RegExp(`--${which}-port or PARLEY_${which.toUpperCase()}_PORT`));
      assert.doesNotMatch(output, /ERROR/, "an operator's mistake, not a crash");
    } finally {
      taken.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
}
