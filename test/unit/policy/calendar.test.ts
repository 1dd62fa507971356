import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCalendar, type CalendarIssue } from '../../../src/policy/calendar.ts';

/** An .ics file from lines, CRLF-terminated as RFC 5545 asks. */
const ics = (...lines: string[]): string => `${lines.join('\r\n')}\r\n`;
/** One VEVENT inside a VCALENDAR; the event's own lines start at line 4. */
const event = (...lines: string[]): string => ics('BEGIN:VCALENDAR', 'VERSION:2.0', 'BEGIN:VEVENT', ...lines, 'END:VEVENT', 'END:VCALENDAR');
const err = (line: number, column: number, message: string): CalendarIssue => ({ line, column, message, severity: 'error' });

describe('YAML calendars', () => {
  it.each<[string, string, string[], CalendarIssue[]]>([
    ['a plain list, sorted and de-duplicated', '- 2026-12-28\n- 2026-12-25\n- 2026-12-25\n', ['2026-12-25', '2026-12-28'], []],
    ['comments name the holidays', '# UK 2026\n- 2026-12-25  # Christmas Day\n- "2026-12-26" # quoted works too\n', ['2026-12-25', '2026-12-26'], []],
    ['a flow list', '[2026-01-01, 2026-04-03]\n', ['2026-01-01', '2026-04-03'], []],
    ['an empty file is an empty calendar', '', [], []],
    ['only comments is an empty calendar', '# nothing yet\n', [], []],
    ['an impossible date points at its line and column', '- 2026-12-25\n- 2026-02-30\n', ['2026-12-25'],
      [err(2, 3, '2026-02-30 is not a date (February 2026 has 28 days)')]],
    ['a malformed date', '- 2026-12-25\n-   25.12.2026\n', ['2026-12-25'], [err(2, 5, '"25.12.2026" is not a date; write YYYY-MM-DD')]],
    ['a number is not a date', '- 20261225\n', [], [err(1, 3, 'expected a date YYYY-MM-DD (name it with a # comment); got 20261225')]],
    ['a mapping entry is not a date', '- date: 2026-12-25\n', [], [err(1, 3, 'expected a date YYYY-MM-DD (name it with a # comment); got a nested list or mapping')]],
    ['the top level must be a list', 'holidays:\n  - 2026-12-25\n', [], [err(1, 1, 'expected a list of dates, one "- YYYY-MM-DD" per line')]],
    ['every bad entry is reported', '- 2026-02-29\n- 2026-12-25\n- 2026-04-31\n', ['2026-12-25'], [
      err(1, 3, '2026-02-29 is not a date (February 2026 has 28 days)'),
      err(3, 3, '2026-04-31 is not a date (April 2026 has 30 days)'),
    ]],
  ])('%s', (_why, text, dates, issues) => {
    expect(parseCalendar(text, 'holidays.yaml')).toEqual({ dates, issues });
  });

  it('reports YAML syntax errors with their position', () => {
    const result = parseCalendar('- 2026-12-25\n- [2026-12-26\n', 'holidays.yaml');
    expect(result.dates).toEqual([]);
    expect(result.issues.length).toBeGreaterThan(0);
    expect(result.issues[0]).toMatchObject({ line: expect.any(Number), column: expect.any(Number), severity: 'error' });
    expect(result.issues[0]!.line).toBeGreaterThanOrEqual(2);
  });
});

describe('iCalendar files', () => {
  it.each<[string, string, string[], CalendarIssue[]]>([
    ['an all-day event is its date', event('SUMMARY:Christmas Day', 'DTSTART;VALUE=DATE:20261225', 'DTEND;VALUE=DATE:20261226'),
      ['2026-12-25'], []],
    ['without DTEND an all-day event is one day', event('DTSTART;VALUE=DATE:20261225'), ['2026-12-25'], []],
    ['DTEND is exclusive: a two-day event', event('DTSTART;VALUE=DATE:20261225', 'DTEND;VALUE=DATE:20261227'),
      ['2026-12-25', '2026-12-26'], []],
    ['a multi-day event across a month and year end', event('DTSTART;VALUE=DATE:20261231', 'DTEND;VALUE=DATE:20270102'),
      ['2026-12-31', '2027-01-01'], []],
    ['DTEND equal to DTSTART counts as one day', event('DTSTART;VALUE=DATE:20261225', 'DTEND;VALUE=DATE:20261225'), ['2026-12-25'], []],
    ['a bare 8-digit DTSTART is a date too', event('DTSTART:20261225'), ['2026-12-25'], []],
    ['DURATION instead of DTEND', event('DTSTART;VALUE=DATE:20261225', 'DURATION:P2D'), ['2026-12-25', '2026-12-26'], []],
    ['a timed event is its local date', event('DTSTART:20261224T140000', 'DTEND:20261224T170000'), ['2026-12-24'], []],
    ['a timed event with TZID is the date as written there', event('DTSTART;TZID=Europe/London:20261225T000000', 'DTEND;TZID=Europe/London:20261225T010000'),
      ['2026-12-25'], []],
    ['a timed event ending at midnight does not touch the next day', event('DTSTART:20261224T120000', 'DTEND:20261225T000000'), ['2026-12-24'], []],
    ['a timed event over midnight touches both days', event('DTSTART:20261224T220000', 'DTEND:20261225T020000'), ['2026-12-24', '2026-12-25'], []],
    ['a UTC time is read as UTC without a zone', event('DTSTART:20261224T233000Z'), ['2026-12-24'], []],
    ['a cancelled event is skipped', event('STATUS:CANCELLED', 'DTSTART;VALUE=DATE:20261225'), [], []],
    ['an impossible date points at its value', event('SUMMARY:Bad', 'DTSTART;VALUE=DATE:20260230'), [],
      [err(5, 20, '2026-02-30 is not a date (February 2026 has 28 days)')]],
    ['an impossible time of day', event('DTSTART:20261225T250000'), [], [err(4, 9, 'DTSTART "20261225T250000" has an impossible time of day')]],
    ['garbage in DTSTART', event('DTSTART:tomorrow'), [], [err(4, 9, 'DTSTART "tomorrow" is not a date (YYYYMMDD) or date-time (YYYYMMDDTHHMMSS)')]],
    ['a date-time where VALUE=DATE was promised', event('DTSTART;VALUE=DATE:20261225T090000'), [],
      [err(4, 20, 'DTSTART "20261225T090000" is not a date (YYYYMMDD) or date-time (YYYYMMDDTHHMMSS)')]],
    ['an event without DTSTART', event('SUMMARY:Nothing'), [], [err(3, 1, 'event "Nothing" has no DTSTART')]],
    ['an event that ends before it starts', event('SUMMARY:Backwards', 'DTSTART;VALUE=DATE:20261225', 'DTEND;VALUE=DATE:20261224'), [],
      [err(6, 18, 'event "Backwards" ends before it starts')]],
    ['an event of more than a year is a mistake', event('DTSTART;VALUE=DATE:20260101', 'DTEND;VALUE=DATE:20280101'), [],
      [err(5, 18, 'event spans 730 days; is DTEND right?')]],
    ['a bad DURATION', event('DTSTART;VALUE=DATE:20261225', 'DURATION:two days'), [], [err(5, 10, '"two days" is not a DURATION (e.g. P1D, PT8H)')]],
    ['a recurring event counts once and says so', event('SUMMARY:Christmas', 'DTSTART;VALUE=DATE:20261225', 'RRULE:FREQ=YEARLY'), ['2026-12-25'],
      [{ line: 6, column: 1, severity: 'warning', message: 'recurring event "Christmas" (RRULE) is not expanded: only 2026-12-25 counts; list each date as its own event' }]],
    ['RDATE is not expanded either', event('DTSTART;VALUE=DATE:20261225', 'RDATE;VALUE=DATE:20271225'), ['2026-12-25'],
      [{ line: 5, column: 1, severity: 'warning', message: 'recurring event (RDATE) is not expanded: only 2026-12-25 counts; list each date as its own event' }]],
    ['not a calendar at all', 'hello\r\n', [], [err(1, 1, '"hello" is not an iCalendar line (NAME:value)'), err(1, 1, 'not an iCalendar file: BEGIN:VCALENDAR is missing')]],
    ['a file cut short', ics('BEGIN:VCALENDAR', 'BEGIN:VEVENT', 'DTSTART;VALUE=DATE:20261225'), [], [err(3, 1, 'the file ends inside BEGIN:VEVENT')]],
    ['a mismatched END', ics('BEGIN:VCALENDAR', 'END:VEVENT', 'END:VCALENDAR'), [], [err(2, 5, 'END:VEVENT does not close BEGIN:VCALENDAR')]],
  ])('%s', (_why, text, dates, issues) => {
    expect(parseCalendar(text, 'holidays.ics')).toEqual({ dates, issues });
  });

  it('converts UTC times to the schedule zone when given one', () => {
    // 23:30Z on the 24th is 10:30 on the 25th in Sydney and 18:30 on the 24th in New York
    const text = event('DTSTART:20261224T233000Z');
    expect(parseCalendar(text, 'h.ics', { zone: 'Australia/Sydney' }).dates).toEqual(['2026-12-25']);
    expect(parseCalendar(text, 'h.ics', { zone: 'America/New_York' }).dates).toEqual(['2026-12-24']);
  });

  it('unfolds folded lines, even inside a value, and points issues at the line a property starts on', () => {
    const text = ics(
      'BEGIN:VCALENDAR',
      'BEGIN:VEVENT',
      'SUMMARY:A very long holiday name that a generator folded after seventy-five oc',
      ' tets',
      'DTSTART;VALUE=DA',
      '\tTE:202612',
      ' 25',
      'END:VEVENT',
      'BEGIN:VEVENT',
      'DTSTART;VALUE=DATE:2026',
      ' 0230',
      'END:VEVENT',
      'END:VCALENDAR',
    );
    expect(parseCalendar(text, 'h.ics')).toEqual({ dates: ['2026-12-25'], issues: [err(10, 20, '2026-02-30 is not a date (February 2026 has 28 days)')] });
  });

  it('reads a realistic feed: VTIMEZONE, VALARM, LF line ends, BOM, many events', () => {
    const text = `\uFEFF${[
      'BEGIN:VCALENDAR', 'PRODID:-//Example//Holidays//EN', 'VERSION:2.0',
      'BEGIN:VTIMEZONE', 'TZID:Europe/London',
      'BEGIN:STANDARD', 'DTSTART:19701025T020000', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0000', 'END:STANDARD',
      'END:VTIMEZONE',
      'BEGIN:VEVENT', 'UID:1@example', 'SUMMARY:Christmas Day', 'DTSTART;VALUE=DATE:20261225', 'DTEND;VALUE=DATE:20261226',
      'BEGIN:VALARM', 'TRIGGER:-PT15M', 'ACTION:DISPLAY', 'END:VALARM',
      'END:VEVENT',
      'BEGIN:VEVENT', 'UID:2@example', 'SUMMARY:Boxing Day (substitute day)', 'DTSTART;VALUE=DATE:20261228', 'DTEND;VALUE=DATE:20261229', 'END:VEVENT',
      'BEGIN:VEVENT', 'UID:3@example', 'SUMMARY:Office party', 'DTSTART;TZID="Europe/London":20261218T170000', 'DTEND;TZID="Europe/London":20261218T230000', 'END:VEVENT',
      'END:VCALENDAR',
    ].join('\n')}\n`;
    expect(parseCalendar(text, 'uk-holidays.ics')).toEqual({ dates: ['2026-12-18', '2026-12-25', '2026-12-28'], issues: [] });
  });

  it.each([
    // The content decides when the name does not
    ['holidays.txt'],
    // Case-insensitive extension
    ['HOLIDAYS.ICS'],
  ])('recognises iCalendar in %s', (name) => {
    expect(parseCalendar(event('DTSTART;VALUE=DATE:20261225'), name).dates).toEqual(['2026-12-25']);
  });

  it('never throws and always returns sorted unique valid dates, whatever the text', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 400 }), fc.constantFrom('h.ics', 'h.yaml'), (text, name) => {
      const { dates, issues } = parseCalendar(text, name);
      expect(dates).toEqual([...new Set(dates)].sort());
      for (const d of dates) expect(d).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      for (const i of issues) expect(i.line).toBeGreaterThanOrEqual(1);
    }), { numRuns: 500 });
  });
});
