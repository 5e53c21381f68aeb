/** One registry's exposition, and the labels its samples get in the merged one. */
export interface ExpositionPart {
  labels: Record<string, string>;
  text: string;
}

/**
 * Several registries' expositions (Prometheus text format 0.0.4) as one: every sample gets the
 * labels of the part it came from (a worker's id, say), so the series stay apart, and each
 * family keeps one `# HELP` and one `# TYPE`, with the samples of every part after them.
 */
export function mergeExpositions(parts: readonly ExpositionPart[]): string {
  const families = new Map<string, { head: string[]; samples: string[] }>();
  for (const part of parts) {
    const labels = Object.entries(part.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(
      ",",
    );
    let family: { head: string[]; samples: string[] } | undefined;
    for (const line of part.text.split("\n")) {
      if (line === "") continue;
      const comment = line.match(/^# (HELP|TYPE) (\S+)/);
      if (comment) {
        const name = comment[2];
        family = families.get(name);
        if (!family) families.set(name, family = { head: [], samples: [] });
        if (!family.head.some((h) => h.startsWith(`# ${comment[1]} `))) family.head.push(line);
        continue;
      }
      if (line.startsWith("#")) continue;
      family?.samples.push(labels ? withLabels(line, labels) : line);
    }
  }
  const lines: string[] = [];
  for (const { head, samples } of families.values()) lines.push(...head, ...samples);
  return lines.join("\n") + "\n";
}

/** `name{a="b"} 1` with `labels` added first: `name{worker="1",a="b"} 1`. */
function withLabels(sample: string, labels: string): string {
  const space = sample.indexOf(" ");
  const brace = sample.indexOf("{");
  if (brace !== -1 && brace < space) {
    const close = sample.indexOf("}", brace);
    const inside = sample.slice(brace + 1, close);
    return `${sample.slice(0, brace + 1)}${labels}${inside ? "," : ""}${sample.slice(brace + 1)}`;
  }
  return `${sample.slice(0, space)}{${labels}}${sample.slice(space)}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
