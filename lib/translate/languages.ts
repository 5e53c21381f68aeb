/**
 * Whether two language tags name the same written language for a reader: `en` and `en-GB` do,
 * `pt` and `pt-BR` do, but Chinese scripts and regions (`zh-CN`, `zh-TW`, `zh-Hant`) do not, since
 * a reader of one cannot read the other.
 */
export function sameLanguage(a: string, b: string): boolean {
  const [pa, ...ra] = a.toLowerCase().split(/[-_]/);
  const [pb, ...rb] = b.toLowerCase().split(/[-_]/);
  if (pa !== pb) return false;
  if (pa !== "zh") return true;
  return chineseScript(ra) === chineseScript(rb);
}

function chineseScript(subtags: string[]): "hans" | "hant" {
  if (subtags.includes("hant") || subtags.some((s) => ["tw", "hk", "mo"].includes(s))) {
    return "hant";
  }
  return "hans";
}
