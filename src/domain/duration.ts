const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
const DURATION_RE = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;

/**
 * Parses `30s`, `10m`, `1h`, `2d`, combinations in that order (`1h30m`), and `ms`.
 * Returns milliseconds, or undefined for anything else (callers turn that into a located error).
 */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m || text.trim() === '') return undefined;
  const [, d, h, mi, s, ms] = m;
  if (d === undefined && h === undefined && mi === undefined && s === undefined && ms === undefined) return undefined;
  return (Number(d ?? 0) * UNIT_MS.d) + (Number(h ?? 0) * UNIT_MS.h) + (Number(mi ?? 0) * UNIT_MS.m)
    + (Number(s ?? 0) * UNIT_MS.s) + Number(ms ?? 0);
}

/** The shortest of our own notation for a duration (90 min -> `1h30m`). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) { out += `${n}${unit}`; rest -= n * UNIT_MS[unit]; }
  }
  if (rest > 0) out += `${rest}ms`;
  return out;
}
