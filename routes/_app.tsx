import type { ComponentChildren } from "preact";
import type { AssetManifest } from "../server/assets.ts";

/** The HTML document around every page: stylesheet, icon and the island's script, all hashed. */
export function Document(
  { assets, title, children }: {
    assets: AssetManifest;
    title: string;
    children: ComponentChildren;
  },
) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <title>{title}</title>
        <link rel="icon" href={assets.icon.path} type="image/svg+xml" />
        <link rel="stylesheet" href={assets.style.path} />
        <script type="module" src={assets.script.path} />
      </head>
      <body>{children}</body>
    </html>
  );
}
