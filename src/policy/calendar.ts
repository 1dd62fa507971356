/**
 * Holiday calendars named by a schedule's `calendar:` key. Pure: the caller reads the file.
 *
 * Two formats, chosen by the file name (.ics / .ical / .ifb) or by a leading BEGIN:VCALENDAR:
 *
 * - YAML: a list of local dates, `- 2026-12-25` (use a `# comment` for the holiday's name). An empty
 *   file is an empty calendar.
 * - iCalendar (RFC 5545): each VEVENT contributes its days.
 *   - `DTSTART;VALUE=DATE:20261225` is that date; `DTEND;VALUE=DATE` is exclusive, so a two-day
 *     event has DTEND two days later; without DTEND (or DURATION) it is one day.
 *   - `DTSTART` with a time contributes the dates it touches, as written (floating or with TZID);
 *     a UTC time (`...Z`) is converted to `options.zone` (the schedule's zone), else read as UTC.
 *   - Events with `STATUS:CANCELLED` are skipped.
 *   - Recurring events (RRULE, RDATE) are NOT expanded: only the first occurrence counts, and a
 *     warning says so. Public-holiday feeds list each year's dates as separate events, and guessing
 *     at expansions would silently make days holidays; list them explicitly instead.
 *   - Folded lines (continuations starting with a space or tab) are unfolded first; issues point at
 *     the line where the property starts.
 *
 * Every problem is reported with line and column (1-based); errors drop the entry, warnings keep it.
 */
import { LineCounter, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { DAY_MS, formatEpochDay, parseLocalDate, zoneClock } from './local-time.ts';

export interface CalendarIssue {
  line: number;
  column: number;
  message: string;
  /** Errors drop the entry (the caller should refuse the file); warnings keep what could be read. */
  severity: 'error' | 'warning';
}

export interface CalendarOptions {
  /** IANA zone in which UTC event times (`...Z`) are turned into dates; default UTC. */
  zone?: string;
}

export interface ParsedCalendar {
  /** Unique local dates `YYYY-MM-DD`, sorted. */
  dates: string[];
  issues: CalendarIssue[];
}

/** Longest event we accept as holidays; anything longer is almost certainly a wrong DTEND. */
const MAX_EVENT_DAYS = 366;

export function parseCalendar(text: string, fileName: string, options: CalendarOptions = {}): ParsedCalendar {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const isIcs = /\.(ics|ical|ifb)$/i.test(fileName) || /^\s*BEGIN:VCALENDAR/i.test(body);
  const result = isIcs ? parseIcs(body, options.zone ?? 'UTC') : parseYamlList(body);
  return { dates: [...new Set(result.dates)].sort(), issues: result.issues };
}

// ---------------------------------------------------------------------------------------------
// YAML

function parseYamlList(text: string): ParsedCalendar {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const at = (offset: number): { line: number; column: number } => {
    const p = lineCounter.linePos(offset);
    return { line: Math.max(p.line, 1), column: Math.max(p.col, 1) };
  };
  const issues: CalendarIssue[] = doc.errors.map((e) => ({ ...at(e.pos[0]), message: e.message, severity: 'error' as const }));
  if (issues.length > 0) return { dates: [], issues };
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) return { dates: [], issues };
  if (!isSeq(root)) {
    return { dates: [], issues: [{ ...at(nodeStart(root)), message: 'expected a list of dates, one "- YYYY-MM-DD" per line', severity: 'error' }] };
  }
  const dates: string[] = [];
  for (const item of root.items) {
    const date = yamlDate(item);
    if ('date' in date) dates.push(date.date);
    else issues.push({ ...at(nodeStart(item)), message: date.error, severity: 'error' });
  }
  return { dates, issues };
}

function yamlDate(item: unknown): { date: string } | { error: string } {
  if (!isScalar(item) || typeof item.value !== 'string') {
    const shown = isScalar(item) ? String(item.value) : 'a nested list or mapping';
    return { error: `expected a date YYYY-MM-DD (name it with a # comment); got ${shown}` };
  }
  const parsed = parseLocalDate(item.value.trim());
  return 'error' in parsed ? parsed : { date: formatEpochDay(parsed.epochDay) };
}

function nodeStart(node: unknown): number {
  return (node as Node | null)?.range?.[0] ?? 0;
}

// ---------------------------------------------------------------------------------------------
// iCalendar

interface ContentLine {
  line: number;
  name: string;
  params: Map<string, string>;
  value: string;
  /** 1-based column where the value starts. */
  valueColumn: number;
}

interface VEvent {
  line: number;
  props: Map<string, ContentLine>;
  recurrence?: ContentLine;
}

/** A date or date-time as written; `epochDay` is the local date it falls on. */
interface IcsTime { epochDay: number; minuteOfDay: number }

function parseIcs(text: string, zone: string): ParsedCalendar {
  const issues: CalendarIssue[] = [];
  const dates: string[] = [];
  const stack: string[] = [];
  let event: VEvent | undefined;
  let sawCalendar = false;
  for (const cl of contentLines(text, issues)) {
    if (cl.name === 'BEGIN') {
      const component = cl.value.toUpperCase();
      if (component === 'VCALENDAR') sawCalendar = true;
      if (component === 'VEVENT' && stack[stack.length - 1] === 'VCALENDAR') event = { line: cl.line, props: new Map() };
      stack.push(component);
    } else if (cl.name === 'END') {
      const component = cl.value.toUpperCase();
      if (stack[stack.length - 1] !== component) {
        issues.push(error(cl.line, cl.valueColumn, `END:${component} does not close ${stack.length > 0 ? `BEGIN:${stack[stack.length - 1]}` : 'anything'}`));
      } else {
        stack.pop();
      }
      if (component === 'VEVENT' && event !== undefined) {
        dates.push(...eventDates(event, zone, issues));
        event = undefined;
      }
    } else if (event !== undefined && stack[stack.length - 1] === 'VEVENT') {
      if (cl.name === 'RRULE' || cl.name === 'RDATE') event.recurrence ??= cl;
      else if (!event.props.has(cl.name)) event.props.set(cl.name, cl);
    }
  }
  if (!sawCalendar) issues.push(error(1, 1, 'not an iCalendar file: BEGIN:VCALENDAR is missing'));
  else if (stack.length > 0) issues.push(error(lineCount(text), 1, `the file ends inside BEGIN:${stack[stack.length - 1]}`));
  return { dates, issues };
}

/** Unfolds continuation lines and splits each logical line into name, parameters and value. */
function contentLines(text: string, issues: CalendarIssue[]): ContentLine[] {
  const physical = text.split(/\r\n|\n|\r/);
  const logical: { line: number; text: string }[] = [];
  physical.forEach((raw, index) => {
    const last = logical[logical.length - 1];
    if ((raw.startsWith(' ') || raw.startsWith('\t')) && last !== undefined) last.text += raw.slice(1);
    else if (raw.trim() !== '') logical.push({ line: index + 1, text: raw });
  });
  const out: ContentLine[] = [];
  for (const { line, text: l } of logical) {
    const colon = valueColon(l);
    if (colon < 0) {
      issues.push(error(line, 1, `"${truncate(l)}" is not an iCalendar line (NAME:value)`));
      continue;
    }
    const [name = '', ...paramTexts] = splitParams(l.slice(0, colon));
    const params = new Map<string, string>();
    for (const p of paramTexts) {
      const eq = p.indexOf('=');
      if (eq > 0) params.set(p.slice(0, eq).toUpperCase(), p.slice(eq + 1).replace(/^"|"$/g, ''));
    }
    out.push({ line, name: name.toUpperCase(), params, value: l.slice(colon + 1), valueColumn: colon + 2 });
  }
  return out;
}

/** The colon that ends the name and parameters; colons inside quoted parameter values do not count. */
function valueColon(l: string): number {
  let quoted = false;
  for (let i = 0; i < l.length; i++) {
    if (l[i] === '"') quoted = !quoted;
    else if (l[i] === ':' && !quoted) return i;
  }
  return -1;
}

function splitParams(head: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let current = '';
  for (const ch of head) {
    if (ch === '"') quoted = !quoted;
    if (ch === ';' && !quoted) { parts.push(current); current = ''; } else current += ch;
  }
  parts.push(current);
  return parts;
}

function eventDates(event: VEvent, zone: string, issues: CalendarIssue[]): string[] {
  if (event.props.get('STATUS')?.value.trim().toUpperCase() === 'CANCELLED') return [];
  const label = eventLabel(event);
  const dtstart = event.props.get('DTSTART');
  if (dtstart === undefined) {
    issues.push(error(event.line, 1, `event${label} has no DTSTART`));
    return [];
  }
  const start = parseIcsTime(dtstart, zone);
  if ('error' in start) {
    issues.push(error(dtstart.line, dtstart.valueColumn, start.error));
    return [];
  }
  const last = lastDay(event, start, zone, issues);
  if (last === undefined) return [];
  if (event.recurrence !== undefined) {
    const r = event.recurrence;
    issues.push({
      line: r.line, column: 1, severity: 'warning',
      message: `recurring event${label} (${r.name}) is not expanded: only ${formatEpochDay(start.epochDay)} counts; list each date as its own event`,
    });
  }
  const days: string[] = [];
  for (let d = start.epochDay; d <= last; d++) days.push(formatEpochDay(d));
  return days;
}

/** The last local date the event covers (DTEND and DURATION are exclusive), or undefined on error. */
function lastDay(event: VEvent, start: IcsTime, zone: string, issues: CalendarIssue[]): number | undefined {
  const dtend = event.props.get('DTEND');
  const duration = event.props.get('DURATION');
  let endMinutes: number | undefined;
  let at: ContentLine | undefined;
  if (dtend !== undefined) {
    const end = parseIcsTime(dtend, zone);
    if ('error' in end) {
      issues.push(error(dtend.line, dtend.valueColumn, end.error));
      return undefined;
    }
    endMinutes = end.epochDay * 1440 + end.minuteOfDay;
    at = dtend;
  } else if (duration !== undefined) {
    const minutes = parseIcsDuration(duration.value.trim());
    if (minutes === undefined) {
      issues.push(error(duration.line, duration.valueColumn, `"${truncate(duration.value)}" is not a DURATION (e.g. P1D, PT8H)`));
      return undefined;
    }
    endMinutes = start.epochDay * 1440 + start.minuteOfDay + minutes;
    at = duration;
  }
  const startMinutes = start.epochDay * 1440 + start.minuteOfDay;
  if (endMinutes === undefined || at === undefined || endMinutes === startMinutes) return start.epochDay;
  if (endMinutes < startMinutes) {
    issues.push(error(at.line, at.valueColumn, `event${eventLabel(event)} ends before it starts`));
    return undefined;
  }
  // The end is exclusive: an event ending at midnight does not touch the day that begins then.
  const last = Math.floor((endMinutes - 1) / 1440);
  if (last - start.epochDay + 1 > MAX_EVENT_DAYS) {
    issues.push(error(at.line, at.valueColumn, `event${eventLabel(event)} spans ${last - start.epochDay + 1} days; is ${at.name} right?`));
    return undefined;
  }
  return last;
}

const ICS_DATE_RE = /^(\d{4})(\d{2})(\d{2})$/;
const ICS_DATE_TIME_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)$/;

function parseIcsTime(cl: ContentLine, zone: string): IcsTime | { error: string } {
  const value = cl.value.trim();
  const dateOnly = ICS_DATE_RE.exec(value);
  if (dateOnly) return checkedDate(dateOnly, 0);
  const dateTime = ICS_DATE_TIME_RE.exec(value);
  if (!dateTime || cl.params.get('VALUE')?.toUpperCase() === 'DATE') {
    return { error: `${cl.name} "${truncate(value)}" is not a date (YYYYMMDD) or date-time (YYYYMMDDTHHMMSS)` };
  }
  const [hour, minute, second] = [Number(dateTime[4]), Number(dateTime[5]), Number(dateTime[6])];
  if (hour > 23 || minute > 59 || second > 60) return { error: `${cl.name} "${value}" has an impossible time of day` };
  const local = checkedDate(dateTime, hour * 60 + minute);
  if ('error' in local || dateTime[7] !== 'Z') return local;
  // A UTC time: the holiday is the date it falls on where the schedule is judged.
  const utcMs = local.epochDay * DAY_MS + (local.minuteOfDay * 60 + second) * 1000;
  const localMinute = Math.floor(zoneClock(zone).localMs(utcMs) / 60_000);
  return { epochDay: Math.floor(localMinute / 1440), minuteOfDay: ((localMinute % 1440) + 1440) % 1440 };
}

function checkedDate(m: RegExpExecArray, minuteOfDay: number): IcsTime | { error: string } {
  const parsed = parseLocalDate(`${m[1]}-${m[2]}-${m[3]}`);
  if ('error' in parsed) return parsed;
  return { epochDay: parsed.epochDay, minuteOfDay };
}

/** RFC 5545 durations, in minutes: P2D, P1W, PT8H, P1DT12H, PT90M (seconds are rounded up). */
function parseIcsDuration(text: string): number | undefined {
  const m = /^\+?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) return undefined;
  const [w, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5]].map((x) => Number(x ?? 0)) as [number, number, number, number, number];
  return ((w * 7 + d) * 24 + h) * 60 + mi + Math.ceil(s / 60);
}

function eventLabel(event: VEvent): string {
  const summary = event.props.get('SUMMARY')?.value;
  return summary === undefined || summary.trim() === '' ? '' : ` "${truncate(unescapeText(summary))}"`;
}

function unescapeText(text: string): string {
  return text.replace(/\\([\\;,nN])/g, (_, ch: string) => (ch === 'n' || ch === 'N' ? ' ' : ch));
}

function error(line: number, column: number, message: string): CalendarIssue {
  return { line, column, message, severity: 'error' };
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The last line with content, where a reader looks for what is missing after it. */
function lineCount(text: string): number {
  const lines = text.split(/\r\n|\n|\r/);
  while (lines.length > 1 && lines[lines.length - 1]!.trim() === '') lines.pop();
  return lines.length;
}
