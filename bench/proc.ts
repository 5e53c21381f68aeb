/** Readers of /proc (Linux): a process's CPU time, resident memory and open descriptors. */

let ticksPerSecond: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`), the unit of /proc/<pid>/stat times. */
export async function clockTicks(): Promise<number> {
  if (ticksPerSecond !== undefined) return ticksPerSecond;
  try {
    const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stderr: "null" }).output();
    const n = Number(new TextDecoder().decode(out.stdout).trim());
    ticksPerSecond = n > 0 ? n : 100;
  } catch {
    ticksPerSecond = 100;
  }
  return ticksPerSecond;
}

/** User plus system CPU seconds used so far by `pid` (`"self"` for this process). */
export async function cpuSeconds(pid: number | "self"): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
  return (Number(fields[11]) + Number(fields[12])) / await clockTicks();
}

/** A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`), or NaN when absent. */
export async function statusKiB(pid: number | "self", field = "VmRSS"): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const m = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  return m ? Number(m[1]) : NaN;
}

/** Resident memory of `pid` in KiB. */
export function rssKiB(pid: number | "self"): Promise<number> {
  return statusKiB(pid, "VmRSS");
}

/** Number of open file descriptors of `pid`. */
export async function openFds(pid: number): Promise<number> {
  let n = 0;
  for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) n++;
  return n;
}

/** A snapshot of a server process: CPU seconds, RSS, descriptors, and when it was taken. */
export interface ProcSample {
  at: number;
  cpuSeconds: number;
  rssKiB: number;
  fds: number;
}

export async function sample(pid: number): Promise<ProcSample> {
  const [cpu, rss, fds] = await Promise.all([cpuSeconds(pid), rssKiB(pid), openFds(pid)]);
  return { at: performance.now(), cpuSeconds: cpu, rssKiB: rss, fds };
}
