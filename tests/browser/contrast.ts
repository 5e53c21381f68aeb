/**
 * WCAG 2 contrast of every visible text on a page, measured in the page: each text node's colour
 * against the background it is drawn on (the backgrounds of its ancestors composited, with every
 * stop of a gradient tried), and each empty field's placeholder against the field.
 */
import type { Page } from "playwright-core";

/** A text whose contrast is below the minimum. */
export interface LowContrast {
  text: string;
  /** Where it is: the element's tag and classes, and its parents'. */
  where: string;
  color: string;
  background: string;
  ratio: number;
}

/** WCAG's minimum for normal text (1.4.3, AA); Parley holds all its text to it. */
export const MIN_CONTRAST = 4.5;

/** Texts on the page below `min`, lowest first. */
export async function lowContrast(page: Page, min = MIN_CONTRAST): Promise<LowContrast[]> {
  return await page.evaluate(measure, min);
}

/** Measures every visible text in light and in dark; adds those below 4.5:1 to `low`. */
export async function collectContrast(page: Page, state: string, low: string[]) {
  for (const colorScheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme });
    for (const t of await lowContrast(page)) {
      low.push(
        `${state}, ${colorScheme}: ${t.ratio}:1 ${t.color} on ${t.background}, ` +
          `'${t.text}' in ${t.where}`,
      );
    }
  }
  await page.emulateMedia({ colorScheme: "light" });
}

/** Runs in the page (no closures over test code). */
function measure(min: number): LowContrast[] {
  type Rgba = [number, number, number, number];
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 1;
  const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
  // The canvas parses any CSS colour (rgb, hex, oklch, color-mix...) into sRGB bytes.
  const parse = (css: string): Rgba => {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = "rgb(0 0 0 / 0)";
    ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1);
    const d = ctx.getImageData(0, 0, 1, 1).data;
    return [d[0], d[1], d[2], d[3] / 255];
  };
  const over = (top: Rgba, under: Rgba): Rgba => {
    const a = top[3];
    return [
      top[0] * a + under[0] * (1 - a),
      top[1] * a + under[1] * (1 - a),
      top[2] * a + under[2] * (1 - a),
      1,
    ];
  };
  const luminance = ([r, g, b]: Rgba) => {
    const lin = (c: number) => {
      const s = c / 255;
      return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const ratio = (a: Rgba, b: Rgba) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const hex = (c: Rgba) =>
    `#${c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, "0")).join("")}`;
  const describe = (el: Element) => {
    const parts: string[] = [];
    for (let e: Element | null = el; e && parts.length < 3; e = e.parentElement) {
      parts.push(e.tagName.toLowerCase() + [...e.classList].map((c) => `.${c}`).join(""));
    }
    return parts.join(" < ");
  };
  // The page's own background: the canvas colour of its colour scheme.
  const root = parse(
    getComputedStyle(document.documentElement).colorScheme.includes("dark") &&
      matchMedia("(prefers-color-scheme: dark)").matches
      ? "#121212"
      : "#ffffff",
  );

  /** Every background `el` may be drawn on: one per gradient stop along the way. */
  const backgrounds = (el: Element): Rgba[] => {
    const layers: Rgba[][] = [];
    for (let e: Element | null = el; e; e = e.parentElement) {
      const style = getComputedStyle(e);
      const stops = style.backgroundImage.includes("gradient")
        ? [
          ...style.backgroundImage.matchAll(
            /(?:rgba?|oklch|oklab|color|hsla?)\([^)]*\)|#[0-9a-f]{3,8}\b/gi,
          ),
        ]
          .map((m) => parse(m[0]))
        : [];
      const color = parse(style.backgroundColor);
      if (stops.length) layers.push(stops);
      else if (color[3] > 0) layers.push([color]);
      if (stops.length || color[3] >= 1) break;
    }
    let results: Rgba[] = [root];
    for (const layer of layers.reverse()) {
      results = layer.flatMap((top) => results.map((under) => over(top, under)));
    }
    return results;
  };

  const opacity = (el: Element) => {
    let o = 1;
    for (let e: Element | null = el; e; e = e.parentElement) {
      o *= Number(getComputedStyle(e).opacity);
    }
    return o;
  };
  const hiddenText = (el: Element) => {
    for (let e: Element | null = el; e; e = e.parentElement) {
      const style = getComputedStyle(e);
      // Screen-reader-only text is clipped to nothing; disabled controls are exempt (WCAG 1.4.3).
      if (style.clip !== "auto" && style.position === "absolute") return true;
      if ((e as HTMLButtonElement).disabled) return true;
    }
    return !el.checkVisibility({ opacityProperty: true, visibilityProperty: true });
  };
  const inView = (rect: DOMRect) =>
    rect.width > 1 && rect.height > 1 && rect.bottom > 0 && rect.right > 0 &&
    rect.top < innerHeight && rect.left < innerWidth;

  /** Whether something else is drawn over the middle of `rect` (a drawer's scrim, say). */
  const covered = (el: Element, rect: DOMRect) => {
    const top = document.elementFromPoint(rect.left + rect.width / 2, rect.top + rect.height / 2);
    return !!top && !el.contains(top) && !top.contains(el);
  };

  const found: LowContrast[] = [];
  const check = (el: Element, text: string, colorCss: string) => {
    const fg = parse(colorCss);
    fg[3] *= opacity(el);
    let worst: { ratio: number; bg: Rgba } | undefined;
    for (const bg of backgrounds(el)) {
      const r = ratio(over(fg, bg), bg);
      if (!worst || r < worst.ratio) worst = { ratio: r, bg };
    }
    if (worst && worst.ratio < min) {
      found.push({
        text: text.trim().slice(0, 60),
        where: describe(el),
        color: hex(over(fg, worst.bg)),
        background: hex(worst.bg),
        ratio: Math.round(worst.ratio * 100) / 100,
      });
    }
  };

  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || !node.textContent?.trim() || el.closest("script, style")) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = [...range.getClientRects()].filter(inView);
    if (rects.length === 0 || hiddenText(el) || rects.every((r) => covered(el, r))) continue;
    check(el, node.textContent, getComputedStyle(el).color);
  }
  for (const field of document.querySelectorAll("input, textarea")) {
    const f = field as HTMLInputElement;
    if (!f.placeholder || f.value || !inView(f.getBoundingClientRect()) || hiddenText(f)) continue;
    check(f, `placeholder: ${f.placeholder}`, getComputedStyle(f, "::placeholder").color);
  }
  for (const field of document.querySelectorAll("input:not([type=hidden]), textarea, select")) {
    const f = field as HTMLInputElement;
    if (!f.value || !inView(f.getBoundingClientRect()) || hiddenText(f)) continue;
    check(f, `value: ${f.value}`, getComputedStyle(f).color);
  }
  return found.sort((a, b) => a.ratio - b.ratio);
}
