/**
 * Fast conversion of epoch milliseconds to local wall-clock time in an IANA zone.
 *
 * Schedules are judged on every event, so building a luxon DateTime per call is too slow. A zone's
 * UTC offset only changes at its transitions, which in tzdata (1970 onwards) nearly always fall on a
 * quarter hour of UTC; we cache the offset per 15-minute UTC bucket. The rare bucket that does hold a
 * transition (e.g. Africa/Monrovia at 1972-01-07T00:44:30Z, and many LMT changes before 1970) is
 * detected when the bucket is filled and stored with its exact transition instant, so the result
 * always equals luxon's `DateTime.fromMillis(ms, { zone })`.
 */
import { Info, type Zone } from 'luxon';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
export const MINUTES_PER_DAY = 1440;
const BUCKET_MS = 900_000;
const MAX_CACHED_BUCKETS = 100_000;
/** ECMAScript's Date range; outside it neither Intl nor luxon can tell an offset. */
export const MAX_TIME_MS = 8.64e15;

/** A bucket in which the offset changes: `before` applies up to `at` (exclusive), `after` from it. */
interface BucketTransition { at: number; before: number; after: number }

export class ZoneClock {
  readonly zone: string;
  private readonly luxonZone: Zone;
  /** Bucket -> offset in ms; NaN marks a bucket whose transition lives in `transitions`. */
  private readonly offsets = new Map<number, number>();
  private readonly transitions = new Map<number, BucketTransition>();
  // Events arrive mostly in time order, so the last bucket answers most calls without a Map lookup.
  private lastBucket = Number.NaN;
  private lastOffset = 0;

  constructor(zone: string) {
    const z = Info.normalizeZone(zone);
    if (!z.isValid) throw new Error(`unknown time zone "${zone}"`);
    this.zone = zone;
    this.luxonZone = z;
  }

  /** The zone's UTC offset at `ms`, in milliseconds (local = ms + offset). */
  offsetMs(ms: number): number {
    const bucket = Math.floor(ms / BUCKET_MS);
    if (bucket === this.lastBucket) return this.lastOffset;
    let offset = this.offsets.get(bucket);
    if (offset === undefined) offset = this.fill(bucket);
    if (offset !== offset) return this.offsetInTransitionBucket(bucket, ms);
    this.lastBucket = bucket;
    this.lastOffset = offset;
    return offset;
  }

  /** Local wall-clock time at `ms` as milliseconds since the local epoch (1970-01-01T00:00 local). */
  localMs(ms: number): number {
    return ms + this.offsetMs(ms);
  }

  /**
   * The first instant in (from, until] whose offset differs from the offset at `from`, or undefined.
   * Probes hourly, so it assumes the zone never changes and changes back within one hour (tzdata has
   * no such pair), then narrows down to the exact millisecond.
   */
  nextOffsetChange(from: number, until: number): number | undefined {
    const offset = this.offsetMs(from);
    let lo = from;
    while (lo < until) {
      const probe = Math.min(lo + HOUR_MS, until);
      if (this.offsetMs(probe) !== offset) return this.narrow(lo, probe, offset);
      lo = probe;
    }
    return undefined;
  }

  /** Number of cached buckets (for tests of the cache bound). */
  get cacheSize(): number {
    return this.offsets.size;
  }

  private narrow(lo: number, hi: number, offsetAtLo: number): number {
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.offsetMs(mid) === offsetAtLo) lo = mid;
      else hi = mid;
    }
    return hi;
  }

  private fill(bucket: number): number {
    if (this.offsets.size >= MAX_CACHED_BUCKETS) {
      this.offsets.clear();
      this.transitions.clear();
    }
    const start = bucket * BUCKET_MS;
    const before = this.luxonOffsetMs(start);
    // luxon resolves offsets to whole seconds, so `end - 1` asks about the bucket's last second.
    const after = this.luxonOffsetMs(start + BUCKET_MS - 1);
    if (before === after) {
      this.offsets.set(bucket, before);
      return before;
    }
    this.transitions.set(bucket, { at: this.findTransition(start, before), before, after });
    this.offsets.set(bucket, Number.NaN);
    return Number.NaN;
  }

  /** First whole second after `start` with another offset; tzdata transitions fall on whole seconds. */
  private findTransition(start: number, before: number): number {
    let lo = 0;
    let hi = BUCKET_MS / 1000 - 1;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.luxonOffsetMs(start + mid * 1000) === before) lo = mid;
      else hi = mid;
    }
    return start + hi * 1000;
  }

  private offsetInTransitionBucket(bucket: number, ms: number): number {
    const t = this.transitions.get(bucket);
    // The cache may have been cleared between fill() and here; refill rather than guess.
    if (t === undefined) {
      this.offsets.delete(bucket);
      const offset = this.fill(bucket);
      return offset === offset ? offset : this.offsetInTransitionBucket(bucket, ms);
    }
    return ms < t.at ? t.before : t.after;
  }

  private luxonOffsetMs(ms: number): number {
    // luxon reports minutes, fractional for LMT offsets such as -0:44:30; keep whole milliseconds.
    return Math.round(this.luxonZone.offset(ms) * MINUTE_MS);
  }
}

const clocks = new Map<string, ZoneClock>();

/** One shared clock (and cache) per zone name, so schedules in the same zone share their offsets. */
export function zoneClock(zone: string): ZoneClock {
  let clock = clocks.get(zone);
  if (clock === undefined) {
    clock = new ZoneClock(zone);
    clocks.set(zone, clock);
  }
  return clock;
}

/** Whether `ms` is an instant we can judge (finite, inside the Date range). */
export function isJudgeableTime(ms: number): boolean {
  return ms >= -MAX_TIME_MS && ms <= MAX_TIME_MS;
}

/** Wall-clock fields of a local-epoch millisecond value. weekday is ISO: 1 = Monday ... 7 = Sunday. */
export interface LocalFields {
  year: number; month: number; day: number; weekday: number; hour: number; minute: number;
  second: number; millisecond: number;
}

export function localFields(localMs: number): LocalFields {
  const d = new Date(localMs);
  return {
    year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(),
    weekday: isoWeekday(Math.floor(localMs / DAY_MS)),
    hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(), millisecond: d.getUTCMilliseconds(),
  };
}

/** ISO weekday (1 = Monday) of a day counted from 1970-01-01, which was a Thursday. */
export function isoWeekday(epochDay: number): number {
  return ((((epochDay + 3) % 7) + 7) % 7) + 1;
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const MONTH_NAMES = [
  'January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October',
  'November', 'December',
];

/**
 * `YYYY-MM-DD` -> days since 1970-01-01, or an error message. Impossible dates are errors, never
 * rolled over (Date.UTC would turn 2026-02-30 into March 2).
 */
export function parseLocalDate(text: string): { epochDay: number } | { error: string } {
  const m = DATE_RE.exec(text);
  if (!m) return { error: `"${text}" is not a date; write YYYY-MM-DD` };
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12) return { error: `${text} is not a date (there is no month ${m[2]})` };
  const length = daysInMonth(year, month);
  if (day < 1 || day > length) {
    return { error: `${text} is not a date (${MONTH_NAMES[month - 1]} ${year} has ${length} days)` };
  }
  return { epochDay: epochDayOf(year, month, day) };
}

export function epochDayOf(year: number, month: number, day: number): number {
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  return new Date(0).setUTCFullYear(year, month - 1, day) / DAY_MS;
}

export function formatEpochDay(epochDay: number): string {
  const d = new Date(epochDay * DAY_MS);
  return `${String(d.getUTCFullYear()).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

function daysInMonth(year: number, month: number): number {
  return new Date(new Date(0).setUTCFullYear(year, month, 0)).getUTCDate();
}

export function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
