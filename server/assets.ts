/**
 * The browser assets, held in memory: built by build.ts into one JSON module that this file
 * imports, so `deno compile` embeds them and the server reads no file at run time.
 */

/** Where build.ts writes the assets, relative to the project root. */
export const ASSET_MODULE_PATH = "static/build/assets.json";

/** One built file, named by a hash of its content. */
export interface BuiltAsset {
  /** URL path, e.g. `/static/app.1a2b3c4d5e6f.js`. */
  path: string;
  /** Content-Type header. */
  type: string;
  body: string;
  etag: string;
}

/** What build.ts writes. */
export interface AssetManifest {
  /** Hash of the sources the assets were built from, for `--if-stale`. */
  sourceHash: string;
  script: BuiltAsset;
  style: BuiltAsset;
  icon: BuiltAsset;
}

/** The assets a page links to, and a lookup by URL path. */
export interface Assets {
  manifest: AssetManifest;
  /** The asset served at `path`, if any. */
  get(path: string): BuiltAsset | undefined;
}

/**
 * Imports the built assets.
 * @throws {Error} naming `deno task build` when they have not been built.
 */
export async function loadAssets(): Promise<Assets> {
  let manifest: AssetManifest;
  try {
    // A literal specifier, so `deno compile` finds and embeds the module by itself.
    manifest = (await import("../static/build/assets.json", { with: { type: "json" } })).default;
  } catch (err) {
    throw new Error(
      `The browser assets are missing (${ASSET_MODULE_PATH}): run \`deno task build\` first.`,
      { cause: err },
    );
  }
  return fromManifest(manifest);
}

/** Wraps a manifest for lookups. */
export function fromManifest(manifest: AssetManifest): Assets {
  const byPath = new Map(
    [manifest.script, manifest.style, manifest.icon].map((a) => [a.path, a] as const),
  );
  return { manifest, get: (path) => byPath.get(path) };
}

/** Serves a hashed asset: cached for a year and never revalidated, since its name changes. */
export function assetResponse(asset: BuiltAsset, req: Request): Response {
  const headers = {
    "content-type": asset.type,
    "cache-control": "public, max-age=31536000, immutable",
    etag: asset.etag,
  };
  if (noneMatch(req.headers.get("if-none-match"), asset.etag)) {
    return new Response(null, { status: 304, headers });
  }
  return new Response(req.method === "HEAD" ? null : asset.body, { headers });
}

/**
 * If-None-Match compares weakly (RFC 9110 §13.1.3): a compressed answer carries the tag as
 * `W/"…"`, which the client sends back.
 */
function noneMatch(header: string | null, etag: string): boolean {
  if (header === null) return false;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, "");
  return header.split(",").some((tag) => tag.trim() === "*" || opaque(tag) === opaque(etag));
}
