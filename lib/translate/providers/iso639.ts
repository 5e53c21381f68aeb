/**
 * ISO 639-1 → ISO 639-3 for the languages Apertium has pairs for. Parley stores two-letter codes
 * (`en`, `pt-BR`); Apertium names its modes with three-letter ones (`eng`, `por`, `eng_US`).
 */

/**
 * Two-letter code → the Apertium codes that may stand for it, most specific first. Some
 * languages appear under more than one code across Apertium's pairs (Arabic as `ara` or `arb`;
 * Croatian, Serbian and Bosnian as their own codes or as variants of Serbo-Croatian `hbs`).
 */
const TO_639_3: Readonly<Record<string, readonly string[]>> = {
  af: ["afr"],
  an: ["arg"],
  ar: ["ara", "arb"],
  ast: ["ast"],
  az: ["aze"],
  ba: ["bak"],
  be: ["bel"],
  bg: ["bul"],
  br: ["bre"],
  bs: ["bos", "hbs_BS", "hbs"],
  ca: ["cat"],
  co: ["cos"],
  cs: ["ces"],
  cv: ["chv"],
  cy: ["cym"],
  da: ["dan"],
  de: ["deu"],
  el: ["ell"],
  en: ["eng"],
  eo: ["epo"],
  es: ["spa"],
  et: ["est"],
  eu: ["eus"],
  fa: ["fas", "pes"],
  fi: ["fin"],
  fo: ["fao"],
  fr: ["fra"],
  fy: ["fry"],
  ga: ["gle"],
  gd: ["gla"],
  gl: ["glg"],
  gn: ["grn"],
  he: ["heb"],
  hi: ["hin"],
  hr: ["hrv", "hbs_HR", "hbs"],
  ht: ["hat"],
  hu: ["hun"],
  hy: ["hye"],
  id: ["ind"],
  is: ["isl"],
  it: ["ita"],
  ja: ["jpn"],
  ka: ["kat"],
  kk: ["kaz"],
  kmr: ["kmr"],
  ko: ["kor"],
  ky: ["kir"],
  la: ["lat"],
  lb: ["ltz"],
  lt: ["lit"],
  lv: ["lav"],
  mk: ["mkd"],
  ml: ["mal"],
  mr: ["mar"],
  ms: ["msa", "zlm"],
  mt: ["mlt"],
  nb: ["nob"],
  nl: ["nld"],
  nn: ["nno"],
  no: ["nob", "nor"],
  oc: ["oci"],
  pl: ["pol"],
  pt: ["por"],
  ro: ["ron"],
  ru: ["rus"],
  sc: ["srd"],
  se: ["sme"],
  sk: ["slk"],
  sl: ["slv"],
  sq: ["sqi"],
  sr: ["srp", "hbs_SR", "hbs"],
  sv: ["swe"],
  sw: ["swa"],
  ta: ["tam"],
  tg: ["tgk"],
  tk: ["tuk"],
  tr: ["tur"],
  tt: ["tat"],
  ug: ["uig"],
  uk: ["ukr"],
  ur: ["urd"],
  uz: ["uzb"],
  zh: ["zho", "cmn"],
};

/**
 * The Apertium codes that may stand for a Parley language code, most specific first: `pt-BR` →
 * `["por_BR", "por"]`, `hr` → `["hrv", "hbs_HR", "hbs"]`. A code not in the table is passed
 * through (Apertium also has languages outside ISO 639-1, such as `ast` or `kmr`).
 */
export function toApertiumCodes(code: string): string[] {
  const [primary, region] = splitCode(code);
  const base = TO_639_3[primary] ?? [primary];
  const out: string[] = [];
  if (region) {
    for (const three of base) if (!three.includes("_")) out.push(`${three}_${region}`);
  }
  out.push(...base);
  return [...new Set(out)];
}

/** The primary ISO 639-3 code of an Apertium mode name: `eng_US` → `eng`. */
export function apertiumPrimary(code: string): string {
  return code.split(/[-_]/)[0].toLowerCase();
}

/**
 * The Parley languages (primary subtags) that Apertium codes serve: every two-letter code whose
 * Apertium codes include one of them (`hbs_HR` serves `hr`, `sr` and `bs`, as
 * `toApertiumCodes` would send them), and codes with no two-letter form as they are (`oci_aran`
 * serves `oc`; `sat` stays `sat`).
 */
export function parleyLanguagesOf(codes: Iterable<string>): Set<string> {
  const primaries = new Set([...codes].map(apertiumPrimary));
  const out = new Set<string>();
  const mapped = new Set<string>();
  for (const [two, threes] of Object.entries(TO_639_3)) {
    const found = threes.map(apertiumPrimary).filter((t) => primaries.has(t));
    if (found.length === 0) continue;
    out.add(two);
    for (const t of found) mapped.add(t);
  }
  for (const p of primaries) if (!mapped.has(p)) out.add(p);
  return out;
}

function splitCode(code: string): [primary: string, region: string | undefined] {
  const [primary, region] = code.split(/[-_]/);
  return [primary.toLowerCase(), region ? region.toUpperCase() : undefined];
}
