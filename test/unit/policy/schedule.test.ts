import fc from 'fast-check';
import { DateTime, Info } from 'luxon';
import { describe, expect, it } from 'vitest';
import { ZoneClock, localFields } from '../../../src/policy/local-time.ts';
import { compileSchedule, suggestZone, validateScheduleDef, type Schedule, type ScheduleDef } from '../../../src/policy/schedule.ts';

/** An instant from an ISO string with an explicit offset, so every case says which instant it means. */
function t(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad instant in test: ${iso}`);
  return ms;
}
const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());
const compile = (def: ScheduleDef, zone = 'UTC', extra?: readonly string[]): Schedule => compileSchedule('test', def, zone, extra);
const OFFICE: ScheduleDef = { days: ['mon-fri'], hours: ['09:00-17:30'] };

// ---------------------------------------------------------------------------------------------
// Fast local time vs luxon

const FIELD_NAMES = ['year', 'month', 'day', 'weekday', 'hour', 'minute', 'second'] as const;
function fastFields(zone: string, ms: number): Record<string, number> {
  const f = localFields(new ZoneClock(zone).localMs(ms));
  return Object.fromEntries(FIELD_NAMES.map((k) => [k, f[k]]));
}
function luxonFields(zone: string, ms: number): Record<string, number> {
  const d = DateTime.fromMillis(ms, { zone });
  return Object.fromEntries(FIELD_NAMES.map((k) => [k, d[k]]));
}

const TRICKY_ZONES = [
  'Australia/Lord_Howe', 'Asia/Kolkata', 'Asia/Kathmandu', 'America/St_Johns', 'Pacific/Chatham', 'Europe/London',
  'America/New_York', 'Africa/Monrovia', 'America/Santiago', 'Pacific/Apia', 'Pacific/Kiritimati', 'Asia/Tehran',
  'Australia/Eucla', 'America/Caracas', 'Europe/Dublin', 'Africa/Casablanca', 'Antarctica/Troll', 'UTC', 'Etc/GMT+12',
];
const ALL_ZONES = [...new Set([...Intl.supportedValuesOf('timeZone'), ...TRICKY_ZONES])];
const MS_1970 = 0;
const MS_2100 = t('2100-01-01T00:00:00Z');

/**
 * The offset changes of a zone in [from, to), found with luxon alone: a weekly scan (tzdata never
 * changes and changes back within a week), then bisection to the second.
 */
function transitions(zone: string, from: number, to: number): number[] {
  const z = Info.normalizeZone(zone);
  const out: number[] = [];
  const WEEK = 7 * 86_400_000;
  let offsetA = z.offset(from);
  for (let a = from; a < to; a += WEEK) {
    const offsetB = z.offset(a + WEEK);
    if (offsetA !== offsetB) {
      let lo = a;
      let hi = a + WEEK;
      while (hi - lo > 1000) {
        const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
        if (z.offset(mid) === offsetA) lo = mid;
        else hi = mid;
      }
      out.push(hi);
    }
    offsetA = offsetB;
  }
  return out;
}

describe('fast local time', () => {
  it.each([
    // Lord Howe's half-hour DST ends: 02:00 +11:00 becomes 01:30 +10:30
    ['Australia/Lord_Howe', '2026-04-04T14:59:59.999Z'],
    ['Australia/Lord_Howe', '2026-04-04T15:00:00.000Z'],
    // and starts: 02:00 +10:30 becomes 02:30 +11:00
    ['Australia/Lord_Howe', '2026-10-03T15:29:59.999Z'],
    ['Australia/Lord_Howe', '2026-10-03T15:30:00.000Z'],
    // +05:30 and +05:45 zones shift the minute, not just the hour
    ['Asia/Kolkata', '2026-11-23T03:29:59.999Z'],
    ['Asia/Kathmandu', '2026-11-23T03:15:00.000Z'],
    // Newfoundland (-03:30 / -02:30) and Chatham (+13:45 / +12:45) around their changes
    ['America/St_Johns', '2026-03-08T05:30:00.000Z'],
    ['Pacific/Chatham', '2026-04-04T13:59:59.999Z'],
    ['Pacific/Chatham', '2026-04-04T14:00:00.000Z'],
    // Monrovia changed from -00:44:30 at 00:44:30 UTC: a transition inside a 15-minute bucket
    ['Africa/Monrovia', '1972-01-07T00:44:29.999Z'],
    ['Africa/Monrovia', '1972-01-07T00:44:30.000Z'],
    ['Africa/Monrovia', '1972-01-07T00:30:00.000Z'],
    ['Africa/Monrovia', '1972-01-07T00:59:59.999Z'],
    // Before 1970, LMT offsets with seconds (Amsterdam +00:19:32)
    ['Europe/Amsterdam', '1930-06-01T12:00:00.000Z'],
    // Samoa skipped 2011-12-30 entirely
    ['Pacific/Apia', '2011-12-30T09:59:59.999Z'],
    ['Pacific/Apia', '2011-12-30T10:00:00.000Z'],
  ])('%s at %s equals luxon', (zone, instant) => {
    expect(fastFields(zone, t(instant))).toEqual(luxonFields(zone, t(instant)));
  });

  it('equals luxon for random instants 1970-2100 in every zone Intl knows', () => {
    fc.assert(fc.property(
      fc.constantFrom(...ALL_ZONES), fc.integer({ min: MS_1970, max: MS_2100 }),
      (zone, ms) => { expect(fastFields(zone, ms)).toEqual(luxonFields(zone, ms)); },
    ), { numRuns: 4000 });
  });

  it('equals luxon within two hours of every 1970-2100 offset change of the tricky zones', () => {
    const changes = TRICKY_ZONES.flatMap((zone) => transitions(zone, MS_1970, MS_2100).map((at) => ({ zone, at })));
    expect(changes.length).toBeGreaterThan(1000);
    fc.assert(fc.property(
      fc.constantFrom(...changes), fc.integer({ min: -7_200_000, max: 7_200_000 }),
      ({ zone, at }, delta) => { expect(fastFields(zone, at + delta)).toEqual(luxonFields(zone, at + delta)); },
    ), { numRuns: 4000 });
  });

  it('is exact at each millisecond side of every change (quarter-hour aligned or not)', () => {
    for (const zone of ['Europe/London', 'Australia/Lord_Howe', 'Pacific/Chatham', 'Africa/Monrovia', 'Asia/Kathmandu']) {
      for (const at of transitions(zone, MS_1970, t('2040-01-01T00:00:00Z'))) {
        for (const ms of [at - 1, at, at + 1]) expect(fastFields(zone, ms)).toEqual(luxonFields(zone, ms));
      }
    }
  });

  it('keeps its cache bounded and stays right after clearing it', () => {
    const clock = new ZoneClock('Europe/London');
    const start = t('2000-01-01T00:00:00Z');
    for (let i = 0; i < 100_050; i++) clock.offsetMs(start + i * 900_000);
    expect(clock.cacheSize).toBeLessThanOrEqual(100_000);
    for (const ms of [start, t('2026-07-01T12:00:00Z'), start + 100_049 * 900_000]) {
      expect(clock.localMs(ms) - ms).toBe(DateTime.fromMillis(ms, { zone: 'Europe/London' }).offset * 60_000);
    }
  });

  it('finds the exact millisecond of an offset change', () => {
    const clock = new ZoneClock('Europe/London');
    // Start of BST 2026: the first instant with +01:00
    expect(iso(clock.nextOffsetChange(t('2026-03-28T00:00:00Z'), t('2026-04-05T00:00:00Z')))).toBe('2026-03-29T01:00:00.000Z');
    // No change inside the window
    expect(clock.nextOffsetChange(t('2026-05-01T00:00:00Z'), t('2026-06-01T00:00:00Z'))).toBeUndefined();
    // Monrovia's change at an odd second
    expect(iso(new ZoneClock('Africa/Monrovia').nextOffsetChange(t('1972-01-06T00:00:00Z'), t('1972-01-08T00:00:00Z'))))
      .toBe('1972-01-07T00:44:30.000Z');
  });
});

// ---------------------------------------------------------------------------------------------
// contains()

describe('days syntax', () => {
  // Monday 2026-11-16 .. Sunday 2026-11-22, at noon UTC
  const WEEK = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  const daysOn = (s: Schedule): string[] => WEEK.filter((_, i) => s.contains(t(`2026-11-${16 + i}T12:00:00Z`)));
  it.each<[string, string[] | undefined, string[]]>([
    ['absent means every day', undefined, WEEK],
    ['a single day', ['mon'], ['Mon']],
    ['names are case-insensitive', ['MON', 'Fri'], ['Mon', 'Fri']],
    ['full names', ['monday', 'Sunday'], ['Mon', 'Sun']],
    ['other common abbreviations', ['tues', 'thurs'], ['Tue', 'Thu']],
    ['a range', ['mon-fri'], ['Mon', 'Tue', 'Wed', 'Thu', 'Fri']],
    ['a range with full names and spaces', ['Monday - Wednesday'], ['Mon', 'Tue', 'Wed']],
    ['a range and a day', ['mon-thu', 'sat'], ['Mon', 'Tue', 'Wed', 'Thu', 'Sat']],
    ['mon-sun is every day', ['mon-sun'], WEEK],
    ['a wrapping range: fri-mon is fri, sat, sun, mon', ['fri-mon'], ['Mon', 'Fri', 'Sat', 'Sun']],
    ['sun-mon wraps too', ['sun-mon'], ['Mon', 'Sun']],
    ['tue-mon wraps to the whole week', ['tue-mon'], WEEK],
    ['a one-day range', ['wed-wed'], ['Wed']],
    ['a list of days', ['mon', 'wed', 'fri'], ['Mon', 'Wed', 'Fri']],
    ['overlaps are a union', ['mon', 'mon-tue'], ['Mon', 'Tue']],
  ])('%s', (_why, days, expected) => {
    expect(daysOn(compile(days === undefined ? {} : { days }))).toEqual(expected);
  });
});

type ContainsCase = [why: string, def: ScheduleDef, zone: string, instant: string, inside: boolean];

describe('ranges are [start, end)', () => {
  it.each<ContainsCase>([
    ['one millisecond before the start (GMT)', OFFICE, 'Europe/London', '2026-11-20T08:59:59.999Z', false],
    ['the start itself is inside (GMT)', OFFICE, 'Europe/London', '2026-11-20T09:00:00.000Z', true],
    ['the last millisecond is inside (GMT)', OFFICE, 'Europe/London', '2026-11-20T17:29:59.999Z', true],
    ['the end itself is outside (GMT)', OFFICE, 'Europe/London', '2026-11-20T17:30:00.000Z', false],
    ['the start in summer time: 09:00 BST is 08:00Z', OFFICE, 'Europe/London', '2026-07-03T08:00:00.000+00:00', true],
    ['one millisecond before 09:00 BST', OFFICE, 'Europe/London', '2026-07-03T07:59:59.999Z', false],
    ['the last millisecond in BST', OFFICE, 'Europe/London', '2026-07-03T17:29:59.999+01:00', true],
    ['the end in BST', OFFICE, 'Europe/London', '2026-07-03T17:30:00.000+01:00', false],
    ['Saturday is not Mon-Fri', OFFICE, 'Europe/London', '2026-11-21T12:00:00Z', false],
    ['the contract example: Sat 02:14 is outside', OFFICE, 'Europe/London', '2026-11-21T02:14:00Z', false],
    ['a time written with another offset is converted first', OFFICE, 'Europe/London', '2026-11-20T12:00:00-05:00', true],
  ])('%s', (_why, def, zone, instant, inside) => {
    expect(compile(def, zone).contains(t(instant))).toBe(inside);
  });
});

describe('overnight ranges belong to the day they start on', () => {
  const FRI_NIGHT: ScheduleDef = { days: ['fri'], hours: ['22:00-06:00'] };
  const SUN_NIGHT: ScheduleDef = { days: ['sun'], hours: ['22:00-06:00'] };
  it.each<ContainsCase>([
    ['Friday 21:59:59.999 is before the start', FRI_NIGHT, 'UTC', '2026-11-20T21:59:59.999Z', false],
    ['Friday 22:00 starts it', FRI_NIGHT, 'UTC', '2026-11-20T22:00:00Z', true],
    ['Friday 23:59:59.999 is inside', FRI_NIGHT, 'UTC', '2026-11-20T23:59:59.999Z', true],
    ['Saturday 00:00 is inside (continues past midnight)', FRI_NIGHT, 'UTC', '2026-11-21T00:00:00Z', true],
    ['Saturday 03:00 is inside', FRI_NIGHT, 'UTC', '2026-11-21T03:00:00Z', true],
    ['Saturday 05:59:59.999 is inside', FRI_NIGHT, 'UTC', '2026-11-21T05:59:59.999Z', true],
    ['Saturday 06:00 ends it', FRI_NIGHT, 'UTC', '2026-11-21T06:00:00Z', false],
    ['Friday 03:00 belongs to Thursday, not listed', FRI_NIGHT, 'UTC', '2026-11-20T03:00:00Z', false],
    ['Saturday 22:30 is a Saturday start, not listed', FRI_NIGHT, 'UTC', '2026-11-21T22:30:00Z', false],
    ['Sunday night spills into Monday across the week boundary', SUN_NIGHT, 'UTC', '2026-11-23T03:00:00Z', true],
    ['Monday night is not Sunday night', SUN_NIGHT, 'UTC', '2026-11-23T23:00:00Z', false],
    ['judged in local time: Fri 22:00 New York is Sat 03:00Z', FRI_NIGHT, 'America/New_York', '2026-11-21T03:00:00Z', true],
    ['ending at 00:00 is the same as 24:00', { days: ['fri'], hours: ['23:00-00:00'] }, 'UTC', '2026-11-21T00:00:00Z', false],
    ['23:00-00:00 holds at 23:59', { days: ['fri'], hours: ['23:00-00:00'] }, 'UTC', '2026-11-20T23:59:00Z', true],
  ])('%s', (_why, def, zone, instant, inside) => {
    expect(compile(def, zone).contains(t(instant))).toBe(inside);
  });
});

describe('several ranges and whole days', () => {
  const SPLIT: ScheduleDef = { days: ['mon-fri'], hours: ['09:00-12:00', '13:00-17:30'] };
  const WHOLE_MONDAY: ScheduleDef = { days: ['mon'], hours: ['00:00-24:00'] };
  it.each<ContainsCase>([
    ['morning range', SPLIT, 'UTC', '2026-11-16T11:59:59.999Z', true],
    ['lunch is outside: end of the first range', SPLIT, 'UTC', '2026-11-16T12:00:00Z', false],
    ['lunch is outside', SPLIT, 'UTC', '2026-11-16T12:30:00Z', false],
    ['afternoon range starts at 13:00', SPLIT, 'UTC', '2026-11-16T13:00:00Z', true],
    ['adjacent ranges join without a gap', { hours: ['09:00-12:00', '12:00-13:00'] }, 'UTC', '2026-11-16T12:00:00Z', true],
    ['overlapping ranges are a union', { hours: ['09:00-12:00', '11:00-14:00'] }, 'UTC', '2026-11-16T13:30:00Z', true],
    ['00:00-24:00 starts at midnight', WHOLE_MONDAY, 'UTC', '2026-11-16T00:00:00Z', true],
    ['00:00-24:00 holds to the last millisecond', WHOLE_MONDAY, 'UTC', '2026-11-16T23:59:59.999Z', true],
    ['00:00-24:00 ends at the next midnight', WHOLE_MONDAY, 'UTC', '2026-11-17T00:00:00Z', false],
    ['22:00-24:00 is not overnight', { days: ['mon'], hours: ['22:00-24:00'] }, 'UTC', '2026-11-17T00:30:00Z', false],
    ['no hours means the whole day', { days: ['sat'] }, 'UTC', '2026-11-21T23:59:59.999Z', true],
    ['an empty definition is always', {}, 'UTC', '1999-12-31T23:59:59.999Z', true],
    ['lenient hours: 9:00 is 09:00', { hours: ['9:00-17:30'] }, 'UTC', '2026-11-16T09:00:00Z', true],
  ])('%s', (_why, def, zone, instant, inside) => {
    expect(compile(def, zone).contains(t(instant))).toBe(inside);
  });
});

describe('holidays are checked against the start day', () => {
  const XMAS: ScheduleDef = { ...OFFICE, holidays: ['2026-12-25'] };
  const NIGHTS_XMAS_EVE: ScheduleDef = { days: ['mon-fri'], hours: ['22:00-06:00'], holidays: ['2026-12-24'] };
  const NIGHTS_XMAS: ScheduleDef = { days: ['mon-fri'], hours: ['22:00-06:00'], holidays: ['2026-12-25'] };
  const TWO_RANGES = (holidays: string[]): ScheduleDef => ({ days: ['mon-fri'], hours: ['22:00-06:00', '00:00-02:00'], holidays });
  it.each<ContainsCase>([
    ['a holiday is outside all day', XMAS, 'Europe/London', '2026-12-25T10:00:00Z', false],
    ['the day before is a normal day', XMAS, 'Europe/London', '2026-12-24T10:00:00Z', true],
    ['the day after is a normal day', XMAS, 'Europe/London', '2026-12-28T10:00:00Z', true],
    ['holiday evening (Thu 24th) is outside', NIGHTS_XMAS_EVE, 'UTC', '2026-12-24T23:00:00Z', false],
    ['early hours after a holiday evening are outside too', NIGHTS_XMAS_EVE, 'UTC', '2026-12-25T03:00:00Z', false],
    ['the next evening (not a holiday) holds again', NIGHTS_XMAS_EVE, 'UTC', '2026-12-25T23:00:00Z', true],
    ['early hours of a holiday morning started the day before are inside', NIGHTS_XMAS, 'UTC', '2026-12-25T03:00:00Z', true],
    ['but the holiday evening itself is outside', NIGHTS_XMAS, 'UTC', '2026-12-25T23:00:00Z', false],
    ['and so are the hours after it', NIGHTS_XMAS, 'UTC', '2026-12-26T03:00:00Z', false],
    ['holiday on the start day of one range, the other range holds', TWO_RANGES(['2026-12-24']), 'UTC', '2026-12-25T01:00:00Z', true],
    ['holiday on the day of the other range, the overnight one holds', TWO_RANGES(['2026-12-25']), 'UTC', '2026-12-25T01:00:00Z', true],
    ['both start days holidays: outside', TWO_RANGES(['2026-12-24', '2026-12-25']), 'UTC', '2026-12-25T01:00:00Z', false],
    ['a holiday is a local date: 00:30 on the 25th in Sydney is 13:30Z on the 24th', XMAS, 'Australia/Sydney', '2026-12-24T13:30:00Z', false],
  ])('%s', (_why, def, zone, instant, inside) => {
    expect(compile(def, zone).contains(t(instant))).toBe(inside);
  });

  it('adds the dates of a calendar file to the written ones', () => {
    const s = compile({ ...OFFICE, holidays: ['2026-12-25'] }, 'UTC', ['2026-12-28', '2026-12-25']);
    expect(s.contains(t('2026-12-28T10:00:00Z'))).toBe(false);
    expect(s.contains(t('2026-12-25T10:00:00Z'))).toBe(false);
    expect(s.contains(t('2026-12-29T10:00:00Z'))).toBe(true);
  });
});

describe('daylight saving: local wall-clock time, no special cases', () => {
  const ONE_TO_THREE: ScheduleDef = { hours: ['01:00-03:00'] };
  const HALF_PAST: ScheduleDef = { hours: ['00:30-01:30'] };
  const TWO_TO_HALF: ScheduleDef = { hours: ['02:00-02:30'] };
  it.each<ContainsCase>([
    // Europe/London 2026-03-29: 01:00 GMT jumps to 02:00 BST at 01:00Z
    ['LON spring 01:00-03:00: 00:59:59.999 GMT is before', ONE_TO_THREE, 'Europe/London', '2026-03-29T00:59:59.999Z', false],
    ['LON spring 01:00-03:00: the jump lands on 02:00 BST, inside', ONE_TO_THREE, 'Europe/London', '2026-03-29T01:00:00Z', true],
    ['LON spring 01:00-03:00: 02:59:59.999 BST inside', ONE_TO_THREE, 'Europe/London', '2026-03-29T01:59:59.999Z', true],
    ['LON spring 01:00-03:00: 03:00 BST ends it (one real hour)', ONE_TO_THREE, 'Europe/London', '2026-03-29T02:00:00Z', false],
    ['LON spring 00:30-01:30: 00:30 GMT inside', HALF_PAST, 'Europe/London', '2026-03-29T00:30:00Z', true],
    ['LON spring 00:30-01:30: 00:59:59.999 GMT inside', HALF_PAST, 'Europe/London', '2026-03-29T00:59:59.999Z', true],
    ['LON spring 00:30-01:30: 01:00-01:30 never happens; 02:00 BST is outside', HALF_PAST, 'Europe/London', '2026-03-29T01:00:00Z', false],
    // Europe/London 2026-10-25: 02:00 BST falls back to 01:00 GMT at 01:00Z; 01:00-02:00 happens twice
    ['LON fall 01:00-03:00: 00:59:59.999 BST before', ONE_TO_THREE, 'Europe/London', '2026-10-24T23:59:59.999Z', false],
    ['LON fall 01:00-03:00: first 01:00 (BST) inside', ONE_TO_THREE, 'Europe/London', '2026-10-25T00:00:00Z', true],
    ['LON fall 01:00-03:00: second 01:00 (GMT) inside', ONE_TO_THREE, 'Europe/London', '2026-10-25T01:00:00Z', true],
    ['LON fall 01:00-03:00: 02:59:59.999 GMT inside (three real hours)', ONE_TO_THREE, 'Europe/London', '2026-10-25T02:59:59.999Z', true],
    ['LON fall 01:00-03:00: 03:00 GMT ends it', ONE_TO_THREE, 'Europe/London', '2026-10-25T03:00:00Z', false],
    ['LON fall 00:30-01:30: 00:30 BST inside', HALF_PAST, 'Europe/London', '2026-10-24T23:30:00Z', true],
    ['LON fall 00:30-01:30: first 01:29:59.999 (BST) inside', HALF_PAST, 'Europe/London', '2026-10-25T00:29:59.999Z', true],
    ['LON fall 00:30-01:30: first 01:30 (BST) outside', HALF_PAST, 'Europe/London', '2026-10-25T00:30:00Z', false],
    ['LON fall 00:30-01:30: 01:59 BST outside', HALF_PAST, 'Europe/London', '2026-10-25T00:59:59.999Z', false],
    ['LON fall 00:30-01:30: second 01:00 (GMT) inside again', HALF_PAST, 'Europe/London', '2026-10-25T01:00:00Z', true],
    ['LON fall 00:30-01:30: second 01:29:59.999 (GMT) inside', HALF_PAST, 'Europe/London', '2026-10-25T01:29:59.999Z', true],
    ['LON fall 00:30-01:30: second 01:30 (GMT) outside', HALF_PAST, 'Europe/London', '2026-10-25T01:30:00Z', false],
    // America/New_York 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00Z
    ['NY spring 01:00-03:00: 01:00 EST inside', ONE_TO_THREE, 'America/New_York', '2026-03-08T06:00:00Z', true],
    ['NY spring 01:00-03:00: 01:59:59.999 EST inside', ONE_TO_THREE, 'America/New_York', '2026-03-08T06:59:59.999Z', true],
    ['NY spring 01:00-03:00: the jump lands on 03:00 EDT, outside', ONE_TO_THREE, 'America/New_York', '2026-03-08T07:00:00Z', false],
    ['NY spring 00:30-01:30: 01:29:59.999 EST inside', HALF_PAST, 'America/New_York', '2026-03-08T06:29:59.999Z', true],
    ['NY spring 00:30-01:30: 01:30 EST outside', HALF_PAST, 'America/New_York', '2026-03-08T06:30:00Z', false],
    ['NY spring 02:00-02:30 never happens: 01:59:59.999 EST', TWO_TO_HALF, 'America/New_York', '2026-03-08T06:59:59.999Z', false],
    ['NY spring 02:00-02:30 never happens: 03:00 EDT', TWO_TO_HALF, 'America/New_York', '2026-03-08T07:00:00Z', false],
    // America/New_York 2026-11-01: 02:00 EDT falls back to 01:00 EST at 06:00Z
    ['NY fall 01:00-03:00: 00:59:59.999 EDT before', ONE_TO_THREE, 'America/New_York', '2026-11-01T04:59:59.999Z', false],
    ['NY fall 01:00-03:00: first 01:00 (EDT) inside', ONE_TO_THREE, 'America/New_York', '2026-11-01T05:00:00Z', true],
    ['NY fall 01:00-03:00: second 01:00 (EST) inside', ONE_TO_THREE, 'America/New_York', '2026-11-01T06:00:00Z', true],
    ['NY fall 01:00-03:00: 02:00 EST inside', ONE_TO_THREE, 'America/New_York', '2026-11-01T07:00:00Z', true],
    ['NY fall 01:00-03:00: 03:00 EST ends it', ONE_TO_THREE, 'America/New_York', '2026-11-01T08:00:00Z', false],
    ['NY fall 00:30-01:30: first 01:29 (EDT) inside', HALF_PAST, 'America/New_York', '2026-11-01T05:29:59.999Z', true],
    ['NY fall 00:30-01:30: first 01:30 (EDT) outside', HALF_PAST, 'America/New_York', '2026-11-01T05:30:00Z', false],
    ['NY fall 00:30-01:30: second 01:00 (EST) inside', HALF_PAST, 'America/New_York', '2026-11-01T06:00:00Z', true],
    ['NY fall 00:30-01:30: second 01:30 (EST) outside', HALF_PAST, 'America/New_York', '2026-11-01T06:30:00Z', false],
    // Office hours either side of the change
    ['Friday before BST: 09:00 GMT', OFFICE, 'Europe/London', '2026-03-27T09:00:00Z', true],
    ['Monday after BST: 09:00 BST is 08:00Z', OFFICE, 'Europe/London', '2026-03-30T08:00:00Z', true],
    ['Monday after BST: 08:59 BST', OFFICE, 'Europe/London', '2026-03-30T07:59:59.999Z', false],
    ['Monday after BST: 17:30 BST is 16:30Z', OFFICE, 'Europe/London', '2026-03-30T16:30:00Z', false],
  ])('%s', (_why, def, zone, instant, inside) => {
    expect(compile(def, zone).contains(t(instant))).toBe(inside);
  });
});

describe('offsets that are not whole hours', () => {
  const LH_HALF: ScheduleDef = { hours: ['01:30-02:00'] };
  const LH_GAP: ScheduleDef = { hours: ['02:00-02:30'] };
  it.each<ContainsCase>([
    ['Kolkata +05:30: 09:00 IST is 03:30Z', OFFICE, 'Asia/Kolkata', '2026-11-23T03:30:00Z', true],
    ['Kolkata: 08:59:59.999 IST', OFFICE, 'Asia/Kolkata', '2026-11-23T03:29:59.999Z', false],
    ['Kolkata: 17:29:59.999 IST', OFFICE, 'Asia/Kolkata', '2026-11-23T11:59:59.999Z', true],
    ['Kolkata: 17:30 IST', OFFICE, 'Asia/Kolkata', '2026-11-23T12:00:00Z', false],
    ['Kolkata: Sunday 23:30Z is Monday 05:00 IST, not 09:00 yet', OFFICE, 'Asia/Kolkata', '2026-11-22T23:30:00Z', false],
    ['Kathmandu +05:45: 09:00 NPT is 03:15Z', OFFICE, 'Asia/Kathmandu', '2026-11-23T03:15:00Z', true],
    ['Kathmandu: 03:14:59.999Z is 08:59', OFFICE, 'Asia/Kathmandu', '2026-11-23T03:14:59.999Z', false],
    // Lord Howe 2026-04-05: 02:00 (+11) falls back 30 minutes to 01:30 (+10:30) at 15:00Z
    ['Lord Howe fall: first 01:30 (+11) inside', LH_HALF, 'Australia/Lord_Howe', '2026-04-04T14:30:00Z', true],
    ['Lord Howe fall: first 01:59:59.999 inside', LH_HALF, 'Australia/Lord_Howe', '2026-04-04T14:59:59.999Z', true],
    ['Lord Howe fall: second 01:30 (+10:30) inside again', LH_HALF, 'Australia/Lord_Howe', '2026-04-04T15:00:00Z', true],
    ['Lord Howe fall: 02:00 (+10:30) outside', LH_HALF, 'Australia/Lord_Howe', '2026-04-04T15:30:00Z', false],
    // Lord Howe 2026-10-04: 02:00 (+10:30) jumps 30 minutes to 02:30 (+11) at 15:30Z
    ['Lord Howe spring: 01:59:59.999 (+10:30) before', LH_GAP, 'Australia/Lord_Howe', '2026-10-03T15:29:59.999Z', false],
    ['Lord Howe spring: 02:00-02:30 never happens, 02:30 (+11) is after', LH_GAP, 'Australia/Lord_Howe', '2026-10-03T15:30:00Z', false],
    ['Lord Howe spring: the next day 02:00 (+11) holds', LH_GAP, 'Australia/Lord_Howe', '2026-10-04T15:00:00Z', true],
  ])('%s', (_why, def, zone, instant, inside) => {
    expect(compile(def, zone).contains(t(instant))).toBe(inside);
  });

  it('treats instants it cannot judge as outside', () => {
    const s = compile({});
    expect([Number.NaN, Infinity, -Infinity, 9e15].map((ms) => s.contains(ms))).toEqual([false, false, false, false]);
  });
});

/** A deliberately naive reference: luxon fields, the contract read literally. */
function referenceContains(def: ScheduleDef, zone: string, holidays: readonly string[], ms: number): boolean {
  const local = DateTime.fromMillis(ms, { zone });
  const dayIndex = (spec: string): number => ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].indexOf(spec.slice(0, 3).toLowerCase());
  const days = new Set<number>();
  for (const spec of def.days ?? ['mon-sun']) {
    const [a, b = a] = spec.split('-').map(dayIndex) as [number, number?];
    for (let d = a; ; d = (d + 1) % 7) { days.add(d); if (d === b) break; }
  }
  const minute = local.hour * 60 + local.minute;
  const today = local.toISODate()!;
  const yesterday = local.startOf('day').minus({ hours: 12 }).toISODate()!;
  const weekday = local.weekday - 1;
  return (def.hours ?? ['00:00-24:00']).some((range) => {
    const [start, end] = range.split('-').map((hm) => Number(hm.slice(0, 2)) * 60 + Number(hm.slice(3))) as [number, number];
    if (start < end) return days.has(weekday) && minute >= start && minute < end && !holidays.includes(today);
    return (days.has(weekday) && minute >= start && !holidays.includes(today))
      || (days.has((weekday + 6) % 7) && minute < end && !holidays.includes(yesterday));
  });
}

const hhmm = (m: number): string => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
const arbRange = fc.tuple(fc.integer({ min: 0, max: 1439 }), fc.integer({ min: 1, max: 1440 }))
  .filter(([a, b]) => a !== b)
  .map(([a, b]) => `${hhmm(a)}-${hhmm(b)}`);
const DAY_WORDS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const arbDay = fc.oneof(
  fc.constantFrom(...DAY_WORDS),
  fc.tuple(fc.constantFrom(...DAY_WORDS), fc.constantFrom(...DAY_WORDS)).map(([a, b]) => `${a}-${b}`),
);
const SAMPLE_ZONES = ['UTC', 'Europe/London', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', 'Pacific/Chatham', 'America/St_Johns'];
const WINDOW_FROM = t('2026-01-01T00:00:00Z');
const WINDOW_TO = t('2027-01-01T00:00:00Z');
/** Random schedules with holidays near the instants they are tested with. */
const arbSchedule = fc.record({
  zone: fc.constantFrom(...SAMPLE_ZONES),
  days: fc.option(fc.array(arbDay, { minLength: 1, maxLength: 3 }), { nil: undefined }),
  hours: fc.option(fc.array(arbRange, { minLength: 1, maxLength: 3 }), { nil: undefined }),
  holidays: fc.array(fc.integer({ min: 0, max: 364 }).map((d) => new Date(WINDOW_FROM + d * 86_400_000).toISOString().slice(0, 10)), { maxLength: 40 }),
});
const defOf = (a: { days: string[] | undefined; hours: string[] | undefined; holidays: string[] }): ScheduleDef => ({
  ...(a.days ? { days: a.days } : {}), ...(a.hours ? { hours: a.hours } : {}), holidays: a.holidays,
});

describe('properties', () => {
  it('contains() equals a naive luxon reference for random schedules, zones and instants', () => {
    fc.assert(fc.property(arbSchedule, fc.integer({ min: WINDOW_FROM, max: WINDOW_TO }), (a, ms) => {
      const def = defOf(a);
      expect(compile(def, a.zone).contains(ms)).toBe(referenceContains(def, a.zone, a.holidays, ms));
    }), { numRuns: 3000 });
  });

  it('nextStart() is inside, and nothing between the query and it is', () => {
    fc.assert(fc.property(arbSchedule, fc.integer({ min: WINDOW_FROM, max: WINDOW_TO }), (a, ms) => {
      const s = compile(defOf(a), a.zone);
      const next = s.nextStart(ms);
      if (next === undefined) return;
      expect(next).toBeGreaterThanOrEqual(ms);
      expect(s.contains(next)).toBe(true);
      if (next > ms) expect(s.contains(next - 1)).toBe(false);
      for (let i = 1; i < 20; i++) expect(s.contains(ms + Math.floor(((next - ms) * i) / 20))).toBe(next === ms);
    }), { numRuns: 500 });
  });

  it('windowEnd() is outside, and everything between the query and it is inside', () => {
    fc.assert(fc.property(arbSchedule, fc.integer({ min: WINDOW_FROM, max: WINDOW_TO }), (a, ms) => {
      const s = compile(defOf(a), a.zone);
      const end = s.windowEnd(ms);
      if (!s.contains(ms)) { expect(end).toBeUndefined(); return; }
      if (end === undefined) return;
      expect(end).toBeGreaterThan(ms);
      expect(s.contains(end)).toBe(false);
      expect(s.contains(end - 1)).toBe(true);
      for (let i = 1; i < 20; i++) expect(s.contains(ms + Math.floor(((end - ms) * i) / 20))).toBe(true);
    }), { numRuns: 500 });
  });

  it('validateScheduleDef never throws, whatever it is given', () => {
    fc.assert(fc.property(fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withBoxedValues: true, withObjectString: true }), (value) => {
      expect(Array.isArray(validateScheduleDef(value))).toBe(true);
    }), { numRuns: 2000 });
  });

  it('validateScheduleDef never throws on schedule-shaped input with arbitrary values', () => {
    const anyValue = fc.oneof(fc.string(), fc.anything(), fc.array(fc.oneof(fc.string(), fc.anything())));
    fc.assert(fc.property(
      fc.record({ timezone: anyValue, days: anyValue, hours: anyValue, holidays: anyValue, calendar: anyValue }, { requiredKeys: [] }),
      (def) => { expect(Array.isArray(validateScheduleDef(def))).toBe(true); },
    ), { numRuns: 2000 });
  });

  it('whatever validates, compiles', () => {
    fc.assert(fc.property(arbSchedule, (a) => {
      const def = { ...defOf(a), timezone: a.zone };
      expect(validateScheduleDef(def)).toEqual([]);
      expect(() => compileSchedule('x', def, 'UTC')).not.toThrow();
    }), { numRuns: 300 });
  });
});

// ---------------------------------------------------------------------------------------------
// Validation

describe('validateScheduleDef', () => {
  it.each<[string, unknown, { path: (string | number)[]; message: string }[]]>([
    ['an invalid zone, with a close suggestion', { timezone: 'Europe/Londn' },
      [{ path: ['timezone'], message: 'unknown time zone "Europe/Londn"; did you mean "Europe/London"?' }]],
    ['a city alone is suggested its zone', { timezone: 'London' },
      [{ path: ['timezone'], message: 'unknown time zone "London"; did you mean "Europe/London"?' }]],
    ['current names are suggested even where Intl lists old ones', { timezone: 'Asia/Kolkatta' },
      [{ path: ['timezone'], message: 'unknown time zone "Asia/Kolkatta"; did you mean "Asia/Kolkata"?' }]],
    ['no suggestion when nothing is close', { timezone: 'Nowhere/Atall' },
      [{ path: ['timezone'], message: 'unknown time zone "Nowhere/Atall"; write an IANA name such as "Europe/London"' }]],
    ['"GMT+1" is not an IANA zone', { timezone: 'GMT+1' },
      [{ path: ['timezone'], message: expect.stringMatching(/^unknown time zone "GMT\+1"/) as unknown as string }]],
    ['a zone must be a string', { timezone: 1 },
      [{ path: ['timezone'], message: 'timezone must be an IANA zone name such as "Europe/London"; got 1' }]],
    ['a malformed range', { hours: ['09:00-17:30', '25:00-26:00'] },
      [{ path: ['hours', 1], message: '"25:00-26:00" is not a time range; write "HH:MM-HH:MM"' }]],
    ['minutes past 59', { hours: ['09:60-10:00'] },
      [{ path: ['hours', 0], message: '"09:60-10:00" is not a time range; write "HH:MM-HH:MM"' }]],
    ['a single time is not a range', { hours: ['09:00'] },
      [{ path: ['hours', 0], message: '"09:00" is not a time range; write "HH:MM-HH:MM"' }]],
    ['an empty range', { hours: ['09:00-09:00'] },
      [{ path: ['hours', 0], message: 'empty range 09:00-09:00; write "00:00-24:00" for the whole day' }]],
    ['00:00-00:00 is empty too', { hours: ['00:00-00:00'] },
      [{ path: ['hours', 0], message: 'empty range 00:00-00:00; write "00:00-24:00" for the whole day' }]],
    ['24:00 as a start', { hours: ['24:00-06:00'] },
      [{ path: ['hours', 0], message: '"24:00-06:00" starts at 24:00, which can only end a range; start at 00:00 instead' }]],
    ['24:30 is no time', { hours: ['22:00-24:30'] },
      [{ path: ['hours', 0], message: '"22:00-24:30" is not a time range; write "HH:MM-HH:MM"' }]],
    ['a range must be a string', { hours: [900] },
      [{ path: ['hours', 0], message: 'a time range must be a string "HH:MM-HH:MM"; got 900' }]],
    ['hours must be a list', { hours: '09:00-17:30' },
      [{ path: ['hours'], message: 'hours must be a list, e.g. ["09:00-17:30"]; got "09:00-17:30"' }]],
    ['empty hours would never hold', { hours: [] },
      [{ path: ['hours'], message: 'hours is empty, so the schedule would never hold; leave hours out for the whole day' }]],
    ['an impossible date', { holidays: ['2026-12-25', '2026-02-30'] },
      [{ path: ['holidays', 1], message: '2026-02-30 is not a date (February 2026 has 28 days)' }]],
    ['29 February in a common year', { holidays: ['2027-02-29'] },
      [{ path: ['holidays', 0], message: '2027-02-29 is not a date (February 2027 has 28 days)' }]],
    ['month 13', { holidays: ['2026-13-01'] },
      [{ path: ['holidays', 0], message: '2026-13-01 is not a date (there is no month 13)' }]],
    ['a malformed date', { holidays: ['25/12/2026'] },
      [{ path: ['holidays', 0], message: '"25/12/2026" is not a date; write YYYY-MM-DD' }]],
    ['a date read as a timestamp by a YAML 1.1 parser', { holidays: [new Date('2026-12-25T00:00:00Z')] },
      [{ path: ['holidays', 0], message: expect.stringContaining('read as a timestamp') as unknown as string }]],
    ['an unknown day name, with a suggestion', { days: ['mon', 'fryday'] },
      [{ path: ['days', 1], message: 'unknown day "fryday"; write mon, tue, wed, thu, fri, sat or sun (or the full name); did you mean "fri"?' }]],
    ['an unknown day in a range', { days: ['mon-fro'] },
      [{ path: ['days', 0], message: 'unknown day "fro"; write mon, tue, wed, thu, fri, sat or sun (or the full name); did you mean "fri"?' }]],
    ['a half-written range', { days: ['mon-'] },
      [{ path: ['days', 0], message: '"mon-" is not a day or a range of days; write e.g. mon, mon-fri or fri-mon' }]],
    ['days written as one string', { days: 'mon-fri' },
      [{ path: ['days'], message: 'days must be a list, e.g. [mon-fri]; got "mon-fri"' }]],
    ['empty days would never hold', { days: [] },
      [{ path: ['days'], message: 'days is empty, so the schedule would never hold; leave days out for every day' }]],
    ['an unknown key, with a suggestion', { tz: 'Europe/London' },
      [{ path: ['tz'], message: 'unknown key "tz"; did you mean "timezone"? (allowed: timezone, days, hours, holidays, calendar)' }]],
    ['a misspelt key', { holiday: [] },
      [{ path: ['holiday'], message: 'unknown key "holiday"; did you mean "holidays"? (allowed: timezone, days, hours, holidays, calendar)' }]],
    ['calendar must name a file', { calendar: '' },
      [{ path: ['calendar'], message: 'calendar must be a file name (a YAML list of dates or an .ics file); got ""' }]],
    ['a schedule must be a mapping', 'mon-fri 09:00-17:30',
      [{ path: [], message: 'a schedule must be a mapping with timezone, days, hours, holidays, calendar; got "mon-fri 09:00-17:30"' }]],
    ['null is not a schedule', null,
      [{ path: [], message: 'a schedule must be a mapping with timezone, days, hours, holidays, calendar; got null' }]],
  ])('%s', (_why, def, expected) => {
    expect(validateScheduleDef(def)).toEqual(expected);
  });

  it('reports every problem at once', () => {
    const issues = validateScheduleDef({
      timezone: 'Europe/Londn', days: ['mon-fri', 'fryday'], hours: ['25:00-26:00', '09:00-09:00', '24:00-06:00'],
      holidays: ['2026-02-30', '2026-12-25'], colour: 'red',
    });
    expect(issues.map((i) => i.path)).toEqual([
      ['colour'], ['timezone'], ['days', 1], ['hours', 0], ['hours', 1], ['hours', 2], ['holidays', 0],
    ]);
  });

  it.each<[string, ScheduleDef]>([
    ['the contract example', { timezone: 'Europe/London', days: ['mon-fri'], hours: ['09:00-17:30'], holidays: ['2026-12-25', '2026-12-28'] }],
    ['nothing at all (always)', {}],
    ['whole day, overnight, 24:00 end, wrapping days', { days: ['fri-mon', 'Wednesday'], hours: ['00:00-24:00', '22:00-06:00', '20:00-24:00'] }],
    ['a calendar and no holidays', { calendar: 'holidays.ics' }],
    ['a zone in another case', { timezone: 'europe/london' }],
    ['Etc zones', { timezone: 'Etc/GMT+1' }],
  ])('accepts %s', (_why, def) => {
    expect(validateScheduleDef(def)).toEqual([]);
  });

  it('suggests nothing for a wild guess', () => {
    expect(suggestZone('qqqqqqqqqqqqqqqqqqqqqqqq')).toBeUndefined();
  });
});

describe('compileSchedule', () => {
  it('uses the fallback zone when the schedule names none', () => {
    expect(compileSchedule('x', OFFICE, 'Asia/Kolkata').zone).toBe('Asia/Kolkata');
    expect(compileSchedule('x', { ...OFFICE, timezone: 'Europe/London' }, 'Asia/Kolkata').zone).toBe('Europe/London');
  });

  it('spells a zone written in another case the way Intl does', () => {
    expect(compileSchedule('x', { timezone: 'europe/london' }, 'UTC').zone).toBe('Europe/London');
  });

  it.each<[string, () => unknown, string]>([
    ['an unvalidated definition', () => compileSchedule('x', { hours: ['9-5'] }, 'UTC'), 'schedule x: hours.0: "9-5" is not a time range'],
    ['an invalid fallback zone', () => compileSchedule('x', {}, 'Mars/Olympus'), 'schedule x: unknown time zone "Mars/Olympus"'],
    ['an impossible calendar date', () => compileSchedule('x', {}, 'UTC', ['2026-02-30']), 'schedule x: holiday 2026-02-30 is not a date'],
  ])('throws on %s', (_why, run, message) => {
    expect(run).toThrow(message);
  });
});

// ---------------------------------------------------------------------------------------------
// describe() and explain()

describe('describe()', () => {
  it.each<[string, ScheduleDef, readonly string[] | undefined, string]>([
    ['the contract example', OFFICE, undefined, 'Mon-Fri 09:00-17:30'],
    ['several ranges, days and a lone day', { days: ['mon-thu', 'sat'], hours: ['13:00-17:30', '09:00-12:00'] }, undefined, 'Mon-Thu, Sat 09:00-12:00, 13:00-17:30'],
    ['overnight every day', { hours: ['22:00-06:00'] }, undefined, 'every day 22:00-06:00'],
    ['mon-sun is every day', { days: ['mon-sun'], hours: ['08:00-18:00'] }, undefined, 'every day 08:00-18:00'],
    ['two days are listed, not ranged', { days: ['sat', 'sun'] }, undefined, 'Sat, Sun all day'],
    ['a wrapping range stays one range', { days: ['fri-mon'], hours: ['10:00-16:00'] }, undefined, 'Fri-Mon 10:00-16:00'],
    ['scattered days', { days: ['mon', 'wed', 'fri'], hours: ['09:00-10:00'] }, undefined, 'Mon, Wed, Fri 09:00-10:00'],
    ['explicit whole day', { days: ['mon-fri'], hours: ['00:00-24:00'] }, undefined, 'Mon-Fri all day'],
    ['nothing restricts it', {}, undefined, 'always'],
    ['hours written loosely are shown normalised', { hours: ['9:00 - 17:30'] }, undefined, 'every day 09:00-17:30'],
    ['with holidays', { ...OFFICE, holidays: ['2026-12-25'] }, undefined, 'Mon-Fri 09:00-17:30 (except holidays)'],
    ['with holidays from a calendar only', OFFICE, ['2026-12-25'], 'Mon-Fri 09:00-17:30 (except holidays)'],
    ['an empty calendar adds nothing', OFFICE, [], 'Mon-Fri 09:00-17:30'],
  ])('%s', (_why, def, extra, expected) => {
    expect(compile(def, 'Europe/London', extra).describe()).toBe(expected);
  });
});

describe('explain()', () => {
  const office = compileSchedule('office-hours', { ...OFFICE, holidays: ['2026-12-25', '2026-12-28'] }, 'Europe/London');
  const nights = compileSchedule('nights', { days: ['mon-fri'], hours: ['22:00-06:00'], holidays: ['2026-12-24', '2026-12-25'] }, 'UTC');
  it.each<[string, Schedule, string, string]>([
    ['the contract example (outside)', office, '2026-11-21T02:14:00Z',
      'Sat 2026-11-21 02:14 Europe/London is outside office-hours (Mon-Fri 09:00-17:30)'],
    ['inside', office, '2026-11-20T09:00:00Z', 'Fri 2026-11-20 09:00 Europe/London is inside office-hours (Mon-Fri 09:00-17:30)'],
    ['local time, not UTC, in summer', office, '2026-07-03T16:29:59.999Z', 'Fri 2026-07-03 17:29 Europe/London is inside office-hours (Mon-Fri 09:00-17:30)'],
    ['a holiday says so', office, '2026-12-25T10:00:00Z',
      'Fri 2026-12-25 10:00 Europe/London is outside office-hours (Mon-Fri 09:00-17:30): 2026-12-25 is a holiday'],
    ['a holiday outside the hours anyway needs no reason', office, '2026-12-25T20:00:00Z',
      'Fri 2026-12-25 20:00 Europe/London is outside office-hours (Mon-Fri 09:00-17:30)'],
    ['the early hours after a holiday evening name the start day', nights, '2026-12-25T03:00:00Z',
      'Fri 2026-12-25 03:00 UTC is outside nights (Mon-Fri 22:00-06:00): 2026-12-24 is a holiday'],
    ['the early hours of a holiday morning started the day before', nights, '2026-12-24T03:00:00Z',
      'Thu 2026-12-24 03:00 UTC is inside nights (Mon-Fri 22:00-06:00)'],
    ['the repeated hour shows which one (first, BST)', office, '2026-10-25T00:30:00Z',
      'Sun 2026-10-25 01:30 Europe/London (UTC+01:00) is outside office-hours (Mon-Fri 09:00-17:30)'],
    ['the repeated hour shows which one (second, GMT)', office, '2026-10-25T01:30:00Z',
      'Sun 2026-10-25 01:30 Europe/London (UTC+00:00) is outside office-hours (Mon-Fri 09:00-17:30)'],
    ['just after the repeated hour needs no offset', office, '2026-10-25T02:00:00Z',
      'Sun 2026-10-25 02:00 Europe/London is outside office-hours (Mon-Fri 09:00-17:30)'],
  ])('%s', (_why, schedule, instant, expected) => {
    expect(schedule.explain(t(instant))).toBe(expected);
  });

  it('names both holidays when both start days are', () => {
    const s = compileSchedule('cover', { hours: ['22:00-06:00', '00:00-02:00'], holidays: ['2026-12-24', '2026-12-25'] }, 'UTC');
    expect(s.explain(t('2026-12-25T01:00:00Z'))).toBe(
      'Fri 2026-12-25 01:00 UTC is outside cover (every day 00:00-02:00, 22:00-06:00): 2026-12-24 and 2026-12-25 are holidays',
    );
  });

  it('works in a +05:45 zone', () => {
    const s = compileSchedule('office-hours', OFFICE, 'Asia/Kathmandu');
    expect(s.explain(t('2026-11-23T03:15:00Z'))).toBe('Mon 2026-11-23 09:00 Asia/Kathmandu is inside office-hours (Mon-Fri 09:00-17:30)');
  });
});

// ---------------------------------------------------------------------------------------------
// nextStart() and windowEnd()

describe('nextStart()', () => {
  const office = compile({ ...OFFICE, holidays: ['2026-12-25', '2026-12-28'] }, 'Europe/London');
  const everyMondayOff = Array.from({ length: 70 }, (_, i) => new Date(t('2026-11-16T00:00:00Z') + i * 7 * 86_400_000).toISOString().slice(0, 10));
  it.each<[string, Schedule, string, string | undefined]>([
    ['inside already: the instant itself', office, '2026-11-20T10:00:00Z', '2026-11-20T10:00:00.000Z'],
    ['before opening on a weekday', office, '2026-11-20T07:00:00Z', '2026-11-20T09:00:00.000Z'],
    ['across a weekend', office, '2026-11-20T17:30:00Z', '2026-11-23T09:00:00.000Z'],
    ['across a weekend from Saturday night', office, '2026-11-21T23:00:00Z', '2026-11-23T09:00:00.000Z'],
    ['across holidays: Thu evening -> Fri 25 and Mon 28 off -> Tue 29', office, '2026-12-24T18:00:00Z', '2026-12-29T09:00:00.000Z'],
    ['across the change to BST: Monday 09:00 BST is 08:00Z', office, '2026-03-27T18:00:00Z', '2026-03-30T08:00:00.000Z'],
    ['across the change to GMT: Monday 09:00 GMT is 09:00Z', office, '2026-10-23T18:00:00Z', '2026-10-26T09:00:00.000Z'],
    ['into the repeated hour: 01:45 BST -> second 01:00 (GMT)', compile({ hours: ['00:30-01:30'] }, 'Europe/London'), '2026-10-25T00:45:00Z', '2026-10-25T01:00:00.000Z'],
    ['a jump forward lands inside the window: 00:30 GMT -> 02:00 BST', compile({ hours: ['01:30-03:00'] }, 'Europe/London'), '2026-03-29T00:30:00Z', '2026-03-29T01:00:00.000Z'],
    ['a window that does not exist today: NY 02:00-02:30 -> next day', compile({ hours: ['02:00-02:30'] }, 'America/New_York'), '2026-03-08T06:00:00Z', '2026-03-09T06:00:00.000Z'],
    ['Lord Howe gap: 02:00-02:30 -> next day 02:00 (+11)', compile({ hours: ['02:00-02:30'] }, 'Australia/Lord_Howe'), '2026-10-03T15:00:00Z', '2026-10-04T15:00:00.000Z'],
    ['overnight window starts the evening before', compile({ days: ['fri'], hours: ['22:00-06:00'] }), '2026-11-16T12:00:00Z', '2026-11-20T22:00:00.000Z'],
    ['never within 400 days (every Monday a holiday)', compile({ days: ['mon'], holidays: everyMondayOff }), '2026-11-16T12:00:00Z', undefined],
    ['always', compile({}), '2026-11-16T12:00:00Z', '2026-11-16T12:00:00.000Z'],
    ['an instant it cannot judge', compile({}), 'NaN', undefined],
  ])('%s', (_why, schedule, instant, expected) => {
    expect(iso(schedule.nextStart(instant === 'NaN' ? Number.NaN : t(instant)))).toBe(expected);
  });
});

describe('windowEnd()', () => {
  const office = compile({ ...OFFICE, holidays: ['2026-12-25'] }, 'Europe/London');
  it.each<[string, Schedule, string, string | undefined]>([
    ['inside office hours: 17:30 the same day', office, '2026-11-20T10:00:00Z', '2026-11-20T17:30:00.000Z'],
    ['the last millisecond still has an end', office, '2026-11-20T17:29:59.999Z', '2026-11-20T17:30:00.000Z'],
    ['outside: no window', office, '2026-11-21T10:00:00Z', undefined],
    ['in summer the end is 16:30Z', office, '2026-07-03T10:00:00Z', '2026-07-03T16:30:00.000Z'],
    ['overnight: ends the next morning', compile({ days: ['fri'], hours: ['22:00-06:00'] }), '2026-11-20T23:00:00Z', '2026-11-21T06:00:00.000Z'],
    ['adjacent ranges make one window', compile({ hours: ['09:00-12:00', '12:00-13:00'] }), '2026-11-20T10:00:00Z', '2026-11-20T13:00:00.000Z'],
    ['a window running through midnight into the next day', compile({ days: ['fri', 'sat'] }), '2026-11-20T10:00:00Z', '2026-11-22T00:00:00.000Z'],
    ['always: no end within 400 days', compile({}), '2026-11-20T10:00:00Z', undefined],
    ['always except a holiday: ends at the holiday', compile({ holidays: ['2026-12-25'] }), '2026-12-20T10:00:00Z', '2026-12-25T00:00:00.000Z'],
    ['the repeated hour makes a three-hour window', compile({ hours: ['01:00-03:00'] }, 'Europe/London'), '2026-10-25T00:30:00Z', '2026-10-25T03:00:00.000Z'],
    ['the jump forward cuts a window short', compile({ hours: ['00:30-01:30'] }, 'Europe/London'), '2026-03-29T00:45:00Z', '2026-03-29T01:00:00.000Z'],
    ['the first of the repeated hours ends at 01:30 BST', compile({ hours: ['00:30-01:30'] }, 'Europe/London'), '2026-10-25T00:15:00Z', '2026-10-25T00:30:00.000Z'],
    ['Lord Howe: 01:30-02:00 twice back to back makes one hour', compile({ hours: ['01:30-02:00'] }, 'Australia/Lord_Howe'), '2026-04-04T14:45:00Z', '2026-04-04T15:30:00.000Z'],
  ])('%s', (_why, schedule, instant, expected) => {
    expect(iso(schedule.windowEnd(t(instant)))).toBe(expected);
  });
});
