/**
 * Address ranges in CIDR notation (`10.0.0.0/8`, `127.0.0.1`, `fd00::/8`), for the operator's
 * list of trusted proxies. IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`) match IPv4 ranges, as
 * a dual-stack listener reports IPv4 peers that way.
 */

/** One range: the address bits as a bigint, their count (32 or 128) and the prefix length. */
export interface AddressRange {
  text: string;
  bits: bigint;
  width: 32 | 128;
  prefix: number;
}

/**
 * Parses `a.b.c.d[/n]` or an IPv6 address with an optional `/n`.
 * @throws {RangeError} with the exact reason when `text` is not a valid range.
 */
export function parseAddressRange(text: string): AddressRange {
  const [address, prefixText, extra] = text.trim().split("/");
  if (extra !== undefined) throw new RangeError(`'${text}' has more than one '/'`);
  const parsed = parseAddress(address);
  if (!parsed) throw new RangeError(`'${address}' is not an IPv4 or IPv6 address`);
  const prefix = prefixText === undefined ? parsed.width : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > parsed.width || prefixText === "") {
    throw new RangeError(`'/${prefixText}' must be a prefix length from 0 to ${parsed.width}`);
  }
  return { text: text.trim(), ...parsed, prefix };
}

/** Whether `address` (as a socket reports it) lies in one of `ranges`. */
export function inRanges(address: string, ranges: readonly AddressRange[]): boolean {
  const parsed = parseAddress(address);
  if (!parsed) return false;
  return ranges.some((range) => {
    const candidate = range.width === parsed.width ? parsed : asIpv4(parsed);
    if (!candidate || candidate.width !== range.width) return false;
    const shift = BigInt(range.width - range.prefix);
    return candidate.bits >> shift === range.bits >> shift;
  });
}

type Parsed = { bits: bigint; width: 32 | 128 };

function parseAddress(address: string): Parsed | undefined {
  const bare = address.replace(/^\[|\]$/g, "");
  return bare.includes(":") ? parseIpv6(bare) : parseIpv4(bare);
}

function parseIpv4(address: string): Parsed | undefined {
  const parts = address.split(".");
  if (parts.length !== 4) return undefined;
  let bits = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    bits = (bits << 8n) | BigInt(part);
  }
  return { bits, width: 32 };
}

function parseIpv6(address: string): Parsed | undefined {
  let text = address.split("%")[0];
  // A trailing dotted quad (`::ffff:1.2.3.4`) is the last two groups.
  const quad = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (quad) {
    const v4 = parseIpv4(quad[1]);
    if (!v4) return undefined;
    const hex = v4.bits.toString(16).padStart(8, "0");
    text = text.slice(0, -quad[1].length) + `${hex.slice(0, 4)}:${hex.slice(4)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string) => s === "" ? [] : s.split(":");
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  let bits = 0n;
  for (const group of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    bits = (bits << 16n) | BigInt(parseInt(group, 16));
  }
  return { bits, width: 128 };
}

/** `::ffff:a.b.c.d` as the IPv4 address it carries. */
function asIpv4(parsed: Parsed): Parsed | undefined {
  if (parsed.width !== 128 || parsed.bits >> 32n !== 0xffffn) return undefined;
  return { bits: parsed.bits & 0xffffffffn, width: 32 };
}
