/**
 * Named schedules ("office-hours"): which local days and hours count, judged on an event's own time.
 *
 * Contract (design/policy-format.md, "Time semantics"): the instant is converted to the schedule's
 * zone and compared as local wall-clock time; ranges are [start, end); a range that crosses midnight
 * belongs to the day it starts on, and holidays are checked against that start day.
 *
 * `contains` is on the hot path, so a schedule is compiled into a minute-of-week table and judged
 * with a cached UTC offset (local-time.ts); nothing is allocated per call.
 */
import { IANAZone } from 'luxon';
import {
  DAY_MS, formatEpochDay, isJudgeableTime, localFields, pad2, parseLocalDate, zoneClock, type ZoneClock,
} from './local-time.ts';

/** A schedule as written under `schedules:` in vaultwatch.yaml, after YAML parsing. */
export interface ScheduleDef {
  timezone?: string;
  days?: string[];
  hours?: string[];
  holidays?: string[];
  /** A YAML list or .ics file of holidays; the caller reads it (parseCalendar) and passes the dates. */
  calendar?: string;
}

/** A problem in a schedule definition; `path` is relative to the schedule object. */
export interface ScheduleIssue {
  path: (string | number)[];
  message: string;
}

export interface Schedule {
  readonly name: string;
  /** The IANA zone the schedule is judged in (canonical spelling when written in another case). */
  readonly zone: string;
  /** Whether the instant falls inside the schedule. */
  contains(ms: number): boolean;
  /** "Mon-Fri 09:00-17:30", "every day 22:00-06:00", with " (except holidays)" when there are any. */
  describe(): string;
  /** "Sat 2026-11-21 02:14 Europe/London is outside office-hours (Mon-Fri 09:00-17:30)". */
  explain(ms: number): string;
  /** The first instant >= ms inside the schedule; undefined when there is none within 400 days. */
  nextStart(ms: number): number | undefined;
  /** When ms is inside: the first instant after it that is outside (the end of this window). */
  windowEnd(ms: number): number | undefined;
}

// Module-local on purpose: under tsx and vitest an imported binding is read through a getter, which
// costs more than the rest of contains() together.
const MINUTE_MS = 60_000;
const MINUTES_PER_DAY = 1440;
const MAX_TIME_MS = 8.64e15;
const SEARCH_LIMIT_MS = 400 * DAY_MS;
const MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY;
const KNOWN_KEYS = ['timezone', 'days', 'hours', 'holidays', 'calendar'] as const;
const DAY_ABBREVIATIONS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;
/** Spellings accepted for each day, Monday first (index = ISO weekday - 1). */
const DAY_SPELLINGS: readonly (readonly string[])[] = [
  ['mon', 'monday'], ['tue', 'tues', 'tuesday'], ['wed', 'wednesday'], ['thu', 'thur', 'thurs', 'thursday'],
  ['fri', 'friday'], ['sat', 'saturday'], ['sun', 'sunday'],
];
const DAY_BY_NAME = new Map<string, number>(
  DAY_SPELLINGS.flatMap((names, index) => names.map((n) => [n, index] as const)),
);
// Bits of the minute-of-week table: which local day a covering range started on.
const STARTED_TODAY = 1;
const STARTED_YESTERDAY = 2;

// ---------------------------------------------------------------------------------------------
// Parsing the pieces (shared by validation and compilation, so they can never disagree)

interface TimeRange { start: number; end: number }

function parseDaySpec(text: string): { days: number[] } | { error: string } {
  const parts = text.split(/\s*[-\u2013]\s*/);
  if (parts.length > 2 || parts.some((p) => p.trim() === '')) {
    return { error: `"${text}" is not a day or a range of days; write e.g. mon, mon-fri or fri-mon` };
  }
  const indexes: number[] = [];
  for (const part of parts) {
    const index = DAY_BY_NAME.get(part.trim().toLowerCase());
    if (index === undefined) return { error: unknownDayMessage(part.trim()) };
    indexes.push(index);
  }
  const first = indexes[0] ?? 0;
  const last = indexes[indexes.length - 1] ?? first;
  // A range wraps around the week when it ends before it starts: fri-mon is fri, sat, sun, mon.
  const length = ((last - first + 7) % 7) + 1;
  return { days: Array.from({ length }, (_, i) => (first + i) % 7) };
}

function unknownDayMessage(word: string): string {
  const hint = closest(word.toLowerCase(), [...DAY_BY_NAME.keys()], 2);
  const suggestion = hint === undefined ? '' : `; did you mean "${DAY_SPELLINGS[DAY_BY_NAME.get(hint) ?? 0]?.[0]}"?`;
  return `unknown day "${word}"; write mon, tue, wed, thu, fri, sat or sun (or the full name)${suggestion}`;
}

const RANGE_RE = /^(\d{1,2}):(\d{2})\s*[-\u2013]\s*(\d{1,2}):(\d{2})$/;

function parseTimeRange(text: string): TimeRange | { error: string } {
  const m = RANGE_RE.exec(text.trim());
  const malformed = { error: `"${text}" is not a time range; write "HH:MM-HH:MM"` };
  if (!m) return malformed;
  const start = Number(m[1]) * 60 + Number(m[2]);
  const end = Number(m[3]) * 60 + Number(m[4]);
  if (Number(m[2]) > 59 || Number(m[4]) > 59) return malformed;
  if (start === MINUTES_PER_DAY) {
    return { error: `"${text}" starts at 24:00, which can only end a range; start at 00:00 instead` };
  }
  if (start > MINUTES_PER_DAY || end > MINUTES_PER_DAY) return malformed;
  if (start === end) {
    return { error: `empty range ${formatMinute(start)}-${formatMinute(end)}; write "00:00-24:00" for the whole day` };
  }
  return { start, end };
}

function formatMinute(minute: number): string {
  return `${pad2(Math.floor(minute / 60))}:${pad2(minute % 60)}`;
}

function formatRange(r: TimeRange): string {
  return `${formatMinute(r.start)}-${formatMinute(r.end)}`;
}

// ---------------------------------------------------------------------------------------------
// Validation

/** Every problem in a schedule definition, never only the first. Never throws, whatever `def` is. */
export function validateScheduleDef(def: unknown): ScheduleIssue[] {
  try {
    return collectIssues(def);
  } catch (error) {
    // Only exotic input (a proxy, a throwing getter) gets here; report it rather than crash a reload.
    return [{ path: [], message: `the schedule could not be read: ${error instanceof Error ? error.message : 'unknown error'}` }];
  }
}

function collectIssues(def: unknown): ScheduleIssue[] {
  if (!isPlainRecord(def)) {
    return [{ path: [], message: `a schedule must be a mapping with ${KNOWN_KEYS.join(', ')}; got ${describeValue(def)}` }];
  }
  return [
    ...unknownKeyIssues(def),
    ...timezoneIssues(def['timezone']),
    ...listIssues(def, 'days', 'e.g. [mon-fri]', checkDay),
    ...listIssues(def, 'hours', 'e.g. ["09:00-17:30"]', checkHours),
    ...listIssues(def, 'holidays', 'e.g. [2026-12-25]', checkHoliday),
    ...calendarIssues(def['calendar']),
  ];
}

function unknownKeyIssues(def: Record<string, unknown>): ScheduleIssue[] {
  return Object.keys(def)
    .filter((key) => !(KNOWN_KEYS as readonly string[]).includes(key))
    .map((key) => {
      const hint = closest(key.toLowerCase(), [...KNOWN_KEYS, 'tz', 'zone', 'time_zone'], Math.min(3, Math.floor(key.length / 2)));
      const target = hint === 'tz' || hint === 'zone' || hint === 'time_zone' ? 'timezone' : hint;
      const suggestion = target === undefined ? '' : `; did you mean "${target}"?`;
      return { path: [key], message: `unknown key "${key}"${suggestion} (allowed: ${KNOWN_KEYS.join(', ')})` };
    });
}

function timezoneIssues(zone: unknown): ScheduleIssue[] {
  if (zone === undefined) return [];
  if (typeof zone !== 'string' || zone.trim() === '') {
    return [{ path: ['timezone'], message: `timezone must be an IANA zone name such as "Europe/London"; got ${describeValue(zone)}` }];
  }
  return isValidZone(zone) ? [] : [{ path: ['timezone'], message: unknownZoneMessage(zone) }];
}

function calendarIssues(calendar: unknown): ScheduleIssue[] {
  if (calendar === undefined || (typeof calendar === 'string' && calendar.trim() !== '')) return [];
  return [{ path: ['calendar'], message: `calendar must be a file name (a YAML list of dates or an .ics file); got ${describeValue(calendar)}` }];
}

type ItemCheck = (value: unknown) => string | undefined;

function listIssues(def: Record<string, unknown>, key: 'days' | 'hours' | 'holidays', example: string, check: ItemCheck): ScheduleIssue[] {
  const value = def[key];
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    return [{ path: [key], message: `${key} must be a list, ${example}; got ${describeValue(value)}` }];
  }
  if (value.length === 0 && key !== 'holidays') {
    const meaning = key === 'days' ? 'every day' : 'the whole day';
    return [{ path: [key], message: `${key} is empty, so the schedule would never hold; leave ${key} out for ${meaning}` }];
  }
  const issues: ScheduleIssue[] = [];
  value.forEach((item: unknown, index) => {
    const message = check(item);
    if (message !== undefined) issues.push({ path: [key, index], message });
  });
  return issues;
}

function checkDay(value: unknown): string | undefined {
  if (typeof value !== 'string') return `a day must be a name such as mon or a range such as mon-fri; got ${describeValue(value)}`;
  const parsed = parseDaySpec(value);
  return 'error' in parsed ? parsed.error : undefined;
}

function checkHours(value: unknown): string | undefined {
  if (typeof value !== 'string') return `a time range must be a string "HH:MM-HH:MM"; got ${describeValue(value)}`;
  const parsed = parseTimeRange(value);
  return 'error' in parsed ? parsed.error : undefined;
}

function checkHoliday(value: unknown): string | undefined {
  if (value instanceof Date) {
    return 'a holiday must be a date string YYYY-MM-DD; this one was read as a timestamp (parse the YAML with the default 1.2 core schema, or quote it)';
  }
  if (typeof value !== 'string') return `a holiday must be a date written YYYY-MM-DD; got ${describeValue(value)}`;
  const parsed = parseLocalDate(value);
  return 'error' in parsed ? parsed.error : undefined;
}

// ---------------------------------------------------------------------------------------------
// Time zones

function isValidZone(zone: string): boolean {
  try {
    return IANAZone.isValidZone(zone);
  } catch {
    return false;
  }
}

// Intl lists the old canonical names (Asia/Calcutta); suggest the names people write today too.
const CURRENT_NAMES = [
  'UTC', 'Asia/Kolkata', 'Asia/Kathmandu', 'Asia/Ho_Chi_Minh', 'Asia/Yangon', 'Europe/Kyiv', 'America/Nuuk',
  'Pacific/Kanton', 'Atlantic/Faroe', 'America/Argentina/Buenos_Aires', 'America/Indiana/Indianapolis',
  'Pacific/Pohnpei', 'Pacific/Chuuk',
];
let zoneNames: string[] | undefined;

function knownZoneNames(): string[] {
  if (zoneNames === undefined) {
    const listed = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
    zoneNames = [...new Set([...listed, ...CURRENT_NAMES.filter(isValidZone)])];
  }
  return zoneNames;
}

function unknownZoneMessage(zone: string): string {
  const hint = suggestZone(zone);
  const suggestion = hint === undefined ? '; write an IANA name such as "Europe/London"' : `; did you mean "${hint}"?`;
  return `unknown time zone "${zone}"${suggestion}`;
}

/** A close valid zone name: by whole name, or by city alone ("London" -> "Europe/London"). */
export function suggestZone(zone: string): string | undefined {
  const names = knownZoneNames();
  const wanted = zone.trim().toLowerCase().replace(/\s+/g, '_');
  const whole = closest(wanted, names.map((n) => n.toLowerCase()), Math.max(2, Math.floor(wanted.length / 5)));
  if (whole !== undefined) return names.find((n) => n.toLowerCase() === whole);
  const city = closest(wanted, names.map((n) => cityOf(n).toLowerCase()), Math.max(1, Math.floor(wanted.length / 5)));
  return city === undefined ? undefined : names.find((n) => cityOf(n).toLowerCase() === city);
}

function cityOf(zone: string): string {
  return zone.slice(zone.lastIndexOf('/') + 1);
}

/** The zone as Intl spells it when it was written in another case ("europe/london"). */
function canonicalZone(zone: string): string {
  const lower = zone.toLowerCase();
  return knownZoneNames().find((n) => n.toLowerCase() === lower) ?? zone;
}

// ---------------------------------------------------------------------------------------------
// Compilation

/**
 * Compiles a validated definition. `fallbackZone` applies when the schedule names none;
 * `extraHolidays` are the dates read from its `calendar` file. Throws on anything validation rejects.
 */
export function compileSchedule(name: string, def: ScheduleDef, fallbackZone: string, extraHolidays: readonly string[] = []): Schedule {
  const issues = validateScheduleDef(def);
  const first = issues[0];
  if (first !== undefined) throw new Error(`schedule ${name}: ${first.path.join('.')}: ${first.message}`);
  const written = def.timezone ?? fallbackZone;
  if (!isValidZone(written)) throw new Error(`schedule ${name}: ${unknownZoneMessage(written)}`);
  const days = compileDays(def.days);
  const ranges = compileRanges(def.hours);
  const holidays = compileHolidays(name, [...(def.holidays ?? []), ...extraHolidays]);
  return new CompiledSchedule(name, canonicalZone(written), days, ranges, holidays);
}

function compileDays(specs: readonly string[] | undefined): boolean[] {
  const days = Array.from({ length: 7 }, () => specs === undefined);
  for (const spec of specs ?? []) {
    const parsed = parseDaySpec(spec);
    if ('days' in parsed) for (const d of parsed.days) days[d] = true;
  }
  return days;
}

function compileRanges(specs: readonly string[] | undefined): TimeRange[] {
  const ranges: TimeRange[] = [];
  for (const spec of specs ?? ['00:00-24:00']) {
    const parsed = parseTimeRange(spec);
    if ('start' in parsed && !ranges.some((r) => r.start === parsed.start && r.end === parsed.end)) ranges.push(parsed);
  }
  return ranges.sort((a, b) => a.start - b.start || a.end - b.end);
}

function compileHolidays(name: string, dates: readonly string[]): Set<number> {
  const days = new Set<number>();
  for (const date of dates) {
    const parsed = parseLocalDate(date);
    if ('error' in parsed) throw new Error(`schedule ${name}: holiday ${parsed.error}`);
    days.add(parsed.epochDay);
  }
  return days;
}

/** Minute-of-week table (Monday 00:00 = 0): which start days' ranges cover each local minute. */
function buildWeekTable(days: readonly boolean[], ranges: readonly TimeRange[]): Uint8Array {
  const table = new Uint8Array(MINUTES_PER_WEEK);
  const mark = (day: number, from: number, to: number, bit: number): void => {
    const base = (day % 7) * MINUTES_PER_DAY;
    for (let m = from; m < to; m++) table[base + m]! |= bit;
  };
  days.forEach((on, day) => {
    if (!on) return;
    for (const r of ranges) {
      if (r.end > r.start) {
        mark(day, r.start, r.end, STARTED_TODAY);
      } else {
        // Crosses midnight: the early hours belong to the day the range started on.
        mark(day, r.start, MINUTES_PER_DAY, STARTED_TODAY);
        mark(day + 1, 0, r.end, STARTED_YESTERDAY);
      }
    }
  });
  return table;
}

/** For each minute of the week, how many minutes (from it, cyclically) keep the same table value. */
function buildRunLengths(table: Uint8Array): Uint32Array {
  const runs = new Uint32Array(MINUTES_PER_WEEK);
  const uniform = table.every((v) => v === table[0]);
  if (uniform) return runs.fill(MINUTES_PER_WEEK);
  // Walk backwards twice around the week so runs that wrap from Sunday into Monday are counted whole.
  let run = 0;
  for (let i = 2 * MINUTES_PER_WEEK - 1; i >= 0; i--) {
    const m = i % MINUTES_PER_WEEK;
    const next = (m + 1) % MINUTES_PER_WEEK;
    run = table[m] === table[next] ? run + 1 : 1;
    if (i < MINUTES_PER_WEEK) runs[m] = run;
  }
  return runs;
}

class CompiledSchedule implements Schedule {
  private readonly clock: ZoneClock;
  private readonly table: Uint8Array;
  private readonly runs: Uint32Array;
  private readonly hasHolidays: boolean;
  private readonly summary: string;

  constructor(
    readonly name: string,
    readonly zone: string,
    days: readonly boolean[],
    ranges: readonly TimeRange[],
    private readonly holidays: ReadonlySet<number>,
  ) {
    this.clock = zoneClock(zone);
    this.table = buildWeekTable(days, ranges);
    this.runs = buildRunLengths(this.table);
    this.hasHolidays = holidays.size > 0;
    this.summary = summarize(days, ranges);
  }

  contains(ms: number): boolean {
    // Written out rather than isJudgeableTime(), to keep imported functions off the hot path.
    if (!(ms >= -MAX_TIME_MS && ms <= MAX_TIME_MS)) return false;
    return this.insideLocalMinute(Math.floor(this.clock.localMs(ms) / MINUTE_MS));
  }

  describe(): string {
    return this.hasHolidays ? `${this.summary} (except holidays)` : this.summary;
  }

  explain(ms: number): string {
    if (!isJudgeableTime(ms)) return `${String(ms)} is not a valid instant, so it is outside ${this.name} (${this.summary})`;
    const when = this.formatInstant(ms);
    if (this.contains(ms)) return `${when} is inside ${this.name} (${this.summary})`;
    const blocking = this.blockingHolidays(Math.floor(this.clock.localMs(ms) / MINUTE_MS));
    const reason = blocking.length === 0 ? ''
      : `: ${blocking.join(' and ')} ${blocking.length === 1 ? 'is a holiday' : 'are holidays'}`;
    return `${when} is outside ${this.name} (${this.summary})${reason}`;
  }

  nextStart(ms: number): number | undefined {
    return this.firstInstantWhere(ms, true);
  }

  windowEnd(ms: number): number | undefined {
    if (!this.contains(ms)) return undefined;
    return this.firstInstantWhere(ms, false);
  }

  /** The hot path: a local minute (minutes since the local epoch) judged against table and holidays. */
  private insideLocalMinute(localMinute: number): boolean {
    const day = Math.floor(localMinute / MINUTES_PER_DAY);
    const bits = this.table[weekIndex(day, localMinute - day * MINUTES_PER_DAY)]!;
    if (bits === 0 || !this.hasHolidays) return bits !== 0;
    return ((bits & STARTED_TODAY) !== 0 && !this.holidays.has(day))
      || ((bits & STARTED_YESTERDAY) !== 0 && !this.holidays.has(day - 1));
  }

  /** The holidays (start days) that keep a minute out even though a range covers it. */
  private blockingHolidays(localMinute: number): string[] {
    const day = Math.floor(localMinute / MINUTES_PER_DAY);
    const bits = this.table[weekIndex(day, localMinute - day * MINUTES_PER_DAY)]!;
    const blocked: string[] = [];
    if ((bits & STARTED_YESTERDAY) !== 0 && this.holidays.has(day - 1)) blocked.push(formatEpochDay(day - 1));
    if ((bits & STARTED_TODAY) !== 0 && this.holidays.has(day)) blocked.push(formatEpochDay(day));
    return blocked;
  }

  /**
   * The first instant >= from where contains() === want, within 400 days. Between offset changes,
   * local time is UTC plus a constant, so we search local minutes with the table and then check that
   * no offset change came first; if one did, the search restarts from the change (a jump of the
   * local clock can land inside or outside a window without passing its start or end).
   */
  private firstInstantWhere(from: number, want: boolean): number | undefined {
    if (!isJudgeableTime(from) || !isJudgeableTime(from + SEARCH_LIMIT_MS)) return undefined;
    // A schedule that never changes state (always, or never) has no answer; skip the 400-day walk.
    if (this.runs[0] === MINUTES_PER_WEEK && !this.hasHolidays) return this.contains(from) === want ? from : undefined;
    const limit = from + SEARCH_LIMIT_MS;
    let t = from;
    while (t <= limit) {
      if (this.contains(t) === want) return t;
      const offset = this.clock.offsetMs(t);
      const minute = this.findLocalMinute(Math.floor((t + offset) / MINUTE_MS) + 1, Math.floor((limit + offset) / MINUTE_MS) + 1, want);
      const candidate = minute === undefined ? limit + 1 : minute * MINUTE_MS - offset;
      const change = this.clock.nextOffsetChange(t, Math.min(candidate, limit));
      if (change === undefined) return candidate <= limit ? candidate : undefined;
      t = change;
    }
    return undefined;
  }

  /** First local minute in [from, to) whose state is `want`, skipping runs of equal table values. */
  private findLocalMinute(from: number, to: number, want: boolean): number | undefined {
    let m = from;
    while (m < to) {
      if (this.insideLocalMinute(m) === want) return m;
      const day = Math.floor(m / MINUTES_PER_DAY);
      const ofDay = m - day * MINUTES_PER_DAY;
      // The state can only change where the table value changes or at midnight (holidays are per day).
      m += Math.min(this.runs[weekIndex(day, ofDay)]!, MINUTES_PER_DAY - ofDay);
    }
    return undefined;
  }

  private formatInstant(ms: number): string {
    const f = localFields(this.clock.localMs(ms));
    const text = `${DAY_ABBREVIATIONS[f.weekday - 1]} ${String(f.year).padStart(4, '0')}-${pad2(f.month)}-${pad2(f.day)} `
      + `${pad2(f.hour)}:${pad2(f.minute)} ${this.zone}`;
    return this.isAmbiguous(ms) ? `${text} (${formatOffset(this.clock.offsetMs(ms))})` : text;
  }

  /** True in a fall-back overlap, where the same wall time occurs twice; the offset then tells which. */
  private isAmbiguous(ms: number): boolean {
    const offset = this.clock.offsetMs(ms);
    const local = ms + offset;
    for (const probe of [ms - DAY_MS, ms + DAY_MS]) {
      if (!isJudgeableTime(probe)) continue;
      const other = this.clock.offsetMs(probe);
      if (other !== offset && this.clock.offsetMs(local - other) === other) return true;
    }
    return false;
  }
}

function weekIndex(epochDay: number, minuteOfDay: number): number {
  // 1970-01-01 was a Thursday, index 3 when Monday is 0.
  return ((((epochDay + 3) % 7) + 7) % 7) * MINUTES_PER_DAY + minuteOfDay;
}

function formatOffset(offsetMs: number): string {
  const sign = offsetMs < 0 ? '-' : '+';
  const minutes = Math.round(Math.abs(offsetMs) / MINUTE_MS);
  return `UTC${sign}${pad2(Math.floor(minutes / 60))}:${pad2(minutes % 60)}`;
}

// ---------------------------------------------------------------------------------------------
// describe()

function summarize(days: readonly boolean[], ranges: readonly TimeRange[]): string {
  const everyDay = days.every(Boolean);
  const wholeDay = ranges.length === 1 && ranges[0]?.start === 0 && ranges[0]?.end === MINUTES_PER_DAY;
  if (everyDay && wholeDay) return 'always';
  const dayText = everyDay ? 'every day' : describeDays(days);
  return `${dayText} ${wholeDay ? 'all day' : ranges.map(formatRange).join(', ')}`;
}

/** Runs of three or more days as "Mon-Fri", shorter ones listed; a run through Sunday into Monday wraps. */
function describeDays(days: readonly boolean[]): string {
  const runs: number[][] = [];
  days.forEach((on, day) => {
    if (!on) return;
    const last = runs[runs.length - 1];
    if (last !== undefined && last[last.length - 1] === day - 1) last.push(day);
    else runs.push([day]);
  });
  const first = runs[0];
  const final = runs[runs.length - 1];
  if (runs.length > 1 && first !== undefined && final !== undefined && first[0] === 0 && final[final.length - 1] === 6
    && first.length + final.length >= 3) {
    runs.shift();
    final.push(...first);
  }
  return runs.map((run) => (run.length >= 3
    ? `${DAY_ABBREVIATIONS[run[0]!]}-${DAY_ABBREVIATIONS[run[run.length - 1]!]}`
    : run.map((d) => DAY_ABBREVIATIONS[d]).join(', '))).join(', ');
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** A short, never-throwing rendering of any value for messages. */
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string': return `"${value}"`;
    case 'number': case 'boolean': case 'bigint': return String(value);
    case 'undefined': return 'nothing';
    case 'object': return value instanceof Date ? 'a timestamp' : 'a mapping';
    default: return `a ${typeof value}`;
  }
}

/** The candidate nearest to `word` by edit distance, when within `maxDistance`. */
function closest(word: string, candidates: readonly string[], maxDistance: number): string | undefined {
  let best: string | undefined;
  let bestDistance = maxDistance + 1;
  for (const c of candidates) {
    if (Math.abs(c.length - word.length) >= bestDistance) continue;
    const d = editDistance(word, c);
    if (d < bestDistance) { best = c; bestDistance = d; }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
