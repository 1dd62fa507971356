import type { AlertSummary } from '../domain/alert-summary.ts';

const COLUMNS: [string, (s: AlertSummary) => string][] = [
  ['TIME (UTC)', (s) => s.time.slice(0, 16).replace('T', ' ')],
  ['SEVERITY', (s) => s.severity],
  ['RULE', (s) => s.rule],
  ['ITEM', (s) => s.item_title ?? `${s.item_id} (title unknown)`],
  ['USER', (s) => s.user],
  ['ACTION', (s) => s.action],
  ['', (s) => (s.suppressed ? 'suppressed' : '')],
  ['TO', (s) => s.recipients.join(' ')],
];

/** Columns cut with an ellipsis past this width; the last (recipients) is never cut. */
const MAX_WIDTH = 48;

/** Alerts as an aligned table, for people, with a count at the end. */
export function formatTable(rows: AlertSummary[]): string {
  const cells = rows.map((r) => COLUMNS.map(([, f]) => oneLine(f(r))));
  const last = COLUMNS.length - 1;
  const widths = COLUMNS.map(([h], i) => Math.min(i === last ? Infinity : MAX_WIDTH, Math.max(h.length, ...cells.map((c) => c[i]!.length))));
  const fmt = (c: string[]) => c.map((v, i) => (v.length > widths[i]! ? `${v.slice(0, widths[i]! - 1)}…` : v.padEnd(i === last ? 0 : widths[i]!))).join('  ').replace(/ +$/, '');
  const lines = [fmt(COLUMNS.map(([h]) => h)), ...cells.map(fmt)];
  const suppressed = rows.filter((r) => r.suppressed).length;
  lines.push(`${rows.length} alert${rows.length === 1 ? '' : 's'}${suppressed ? ` (${suppressed} suppressed by dedup)` : ''}`);
  return `${lines.join('\n')}\n`;
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ');
}
