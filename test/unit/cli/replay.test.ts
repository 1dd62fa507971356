/**
 * `vaultwatch replay` in-process (cli.md "replay"): output format, bad lines as FILE:LINE with
 * physical line numbers, JSON arrays, duplicates, --strict, the table. The spawned end-to-end runs
 * are in spawn.test.ts.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/cli/common.ts';
import { replayCommand } from '../../../src/cli/replay.ts';
import { formatTable } from '../../../src/cli/table.ts';
import type { AlertSummary } from '../../../src/domain/alert-summary.ts';
import { cleanTrees, writeTree } from '../../helpers/config-kit.ts';
import { capture, jsonl } from './capture.ts';

afterAll(cleanTrees);

const CONFIG = 'config/vaultwatch.yaml';
const FIX = 'test/fixtures/cli';
const NOT_AN_OBJECT = 'record: not an object: expected a 1Password item-usage record (uuid, item_uuid, timestamp), a Bitwarden event (numeric type, date) or a canonical event (time, action, item object)';
const replay = (file: string, opts: { strict?: boolean; format?: 'jsonl' | 'table' } = {}) => capture(() => replayCommand(file, { config: CONFIG, ...opts }));

describe('bad lines', () => {
  it('are reported as FILE:LINE: reason with physical line numbers (blank lines counted) and skipped', async () => {
    const r = await replay(`${FIX}/bad-lines.jsonl`);
    const lines = r.err.trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatch(new RegExp(`^${FIX}/bad-lines\\.jsonl:3: not JSON: `));
    expect(lines.slice(1)).toEqual([
      `${FIX}/bad-lines.jsonl:6: timestamp: missing`,
      `${FIX}/bad-lines.jsonl:7: ${NOT_AN_OBJECT}`,
      `${FIX}/bad-lines.jsonl:8: time: not a date`,
      `${FIX}/bad-lines.jsonl:10: duplicate event ID, skipped`,
      `${FIX}/bad-lines.jsonl:12: ${NOT_AN_OBJECT}`,
    ]);
    // The rest of the file is still evaluated: lines 1 and 9. The sign-in on line 11 is skipped quietly.
    expect([...new Set(jsonl(r.out).map((a) => a['event_id']))]).toEqual(['cli-good-1', 'cli-good-2']);
    expect(r.code).toBe(0);
  });

  it('--strict: exit 1 with bad lines; a duplicate alone is a note, not a bad line', async () => {
    expect((await replay(`${FIX}/bad-lines.jsonl`, { strict: true })).code).toBe(1);
    const dupOnly = writeTree({ 'dups.jsonl': '{"id":"d1","time":"2026-11-18T10:00:00Z","action":"fill","vault":{"id":"x"},"item":{"id":"i"},"user":{"id":"u"}}\n'.repeat(2) });
    const r = await replay(join(dupOnly, 'dups.jsonl'), { strict: true });
    expect(r.err).toBe(`${join(dupOnly, 'dups.jsonl')}:2: duplicate event ID, skipped\n`);
    expect(r.code).toBe(0);
  });

  it('CRLF line ends and a missing final newline are fine', async () => {
    const r = await replay(`${FIX}/clean.jsonl`, { strict: true });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(jsonl(r.out).length).toBe(4);
  });
});

describe('JSON array input', () => {
  it('reports each bad record at the line it starts on', async () => {
    const r = await replay(`${FIX}/records.json`, { strict: true });
    expect(r.err.trimEnd().split('\n')).toEqual([
      `${FIX}/records.json:9: time: not a date`,
      `${FIX}/records.json:10: ${NOT_AN_OBJECT}`,
      `${FIX}/records.json:11: duplicate event ID, skipped`,
      `${FIX}/records.json:12: ${NOT_AN_OBJECT}`,
    ]);
    expect(r.code).toBe(1);
    const alerts = jsonl(r.out);
    expect([...new Set(alerts.map((a) => a['event_id']))]).toEqual(['cli-array-1', 'cli-array-2']);
    expect(alerts[0]!['item_title']).toBe('Company card, "quoted" [x] {y}');
  });

  it('a truncated array is one bad line where the unfinished record starts', async () => {
    const dir = writeTree({ 'cut.json': '[\n  {"id": "a", "time": "2026-11-18T10:00:00Z",\n   "action": "fill"' });
    const r = await replay(join(dir, 'cut.json'), { strict: true });
    expect(r.err).toBe(`${join(dir, 'cut.json')}:2: unterminated JSON array\n`);
    expect(r.code).toBe(1);
  });
});

describe('reading', () => {
  it('a character split between two reads of a large file stays whole', async () => {
    const record = (title: string) => `{"id":"utf8-1","time":"2026-11-21T02:14:00Z","action":"reveal","vault":{"id":"4ld2xeydmjgx2h3xwbdqkqmtx4"},"item":{"id":"wxcplh5udshnonkzuuqdkbpmle","title":"${title}"},"user":{"id":"u","email":"jo@example.com"}}\n`;
    const title = 'Company card – Café ☕ 𝄞';
    const before = record(title).indexOf('–');
    // Whitespace-only padding lines (ignored) put the 3-byte dash across the 1 MiB read boundary.
    const pad = (1 << 20) - 1 - before;
    const dir = writeTree({});
    writeFileSync(join(dir, 'big.jsonl'), `${' '.repeat(pad - 1)}\n${record(title)}`);
    const r = await replay(join(dir, 'big.jsonl'), { strict: true });
    expect(r.err).toBe('');
    expect(jsonl(r.out)[0]!['item_title']).toBe(title);
  });

  it('a byte-order mark at the start is not part of the first record', async () => {
    const dir = writeTree({ 'bom.jsonl': '\uFEFF{"id":"bom-1","time":"2026-11-21T02:14:00Z","action":"reveal","vault":{"id":"4ld2xeydmjgx2h3xwbdqkqmtx4"},"item":{"id":"wxcplh5udshnonkzuuqdkbpmle"},"user":{"id":"u"}}\n' });
    const r = await replay(join(dir, 'bom.jsonl'), { strict: true });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });

  it('a file that cannot be read is a usage error (exit 2), not a crash', async () => {
    await expect(replay('test/fixtures/cli/no-such-file.jsonl')).rejects.toThrow(UsageError);
    await expect(replay('test/fixtures/cli/no-such-file.jsonl')).rejects.toThrow('cannot read test/fixtures/cli/no-such-file.jsonl: ENOENT');
  });
});

describe('output', () => {
  it('the example recording: one JSON object per (event, rule), fields as cli.md shows', async () => {
    const r = await replay('examples/events.jsonl');
    const alerts = jsonl(r.out);
    const third = alerts.find((a) => a['event_id'] === 'QVFRSW3MYBGN6EZTHKX5P4CQ7A' && a['rule'] === 'Sensitive access out of hours');
    expect(Object.keys(third!)).toEqual([
      'event_id', 'time', 'vault_id', 'item_id', 'item_title', 'user', 'action', 'policy', 'rule', 'severity', 'recipients', 'suppressed', 'reasons',
    ]);
  });

  it('--format table: aligned columns and a count with the suppressed ones', async () => {
    const r = await replay('examples/events.jsonl', { format: 'table' });
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TIME \(UTC\) +SEVERITY +RULE +ITEM +USER +ACTION +TO$/);
    expect(lines.at(-1)).toBe('14 alerts (1 suppressed by dedup)');
    expect(lines).toHaveLength(16);
    // Columns line up: every row has SEVERITY where the header has it.
    const col = lines[0]!.indexOf('SEVERITY');
    for (const row of lines.slice(1, -1)) expect(row.slice(col).split(' ')[0]).toMatch(/^(info|low|medium|high|critical)$/);
    expect(r.err).toBe('examples/events.jsonl:15: duplicate event ID, skipped\n16 records, 14 events, 14 alerts, 0 bad, 1 duplicates, 1 skipped\n');
  });

  it('formatTable: no alerts, one alert, newlines and long values', () => {
    const empty = formatTable([]).split('\n');
    expect(empty[0]).toMatch(/^TIME \(UTC\) +SEVERITY +RULE +ITEM +USER +ACTION +TO$/);
    expect(empty.slice(1)).toEqual(['0 alerts', '']);
    const row: AlertSummary = {
      event_id: 'e', time: '2026-11-21T02:14:00.000Z', vault_id: 'v', item_id: 'i', item_title: null, user: 'u@example.com', action: 'reveal',
      policy: 'p', rule: `a\nb${'x'.repeat(60)}`, severity: 'high', recipients: ['email:a@example.com', 'slack:#x'], suppressed: true, reasons: [],
    };
    const out = formatTable([row]).split('\n');
    expect(out[1]).toContain('i (title unknown)');
    expect(out[1]).toContain('a b');
    expect(out[1]).toContain('…');
    expect(out[1]).toContain('suppressed');
    expect(out[1]!.endsWith('email:a@example.com slack:#x')).toBe(true);
    expect(out[2]).toBe('1 alert (1 suppressed by dedup)');
  });
});
