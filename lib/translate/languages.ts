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

/**
 * The ISO 639-1 two-letter language codes (all 184, from the ISO 639-2 registration authority's
 * table): the languages Parley accepts when the translation provider cannot say which it has.
 */
export const ISO_639_1: ReadonlySet<string> = new Set(
  (
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv " +
    "cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr " +
    "ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw " +
    "ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv " +
    "ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr " +
    "ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi " +
    "yo za zh zu"
  ).split(" "),
);

/** The primary subtag of a language tag, lower case: `pt-BR` → `pt`. */
export function primaryLanguage(tag: string): string {
  return tag.split(/[-_]/)[0].toLowerCase();
}
