/**
 * `vaultwatch silence`: alerts of a vault matching a rule, user and/or item are recorded but not sent
 * for a while; author and reason are required, the length is bounded (`accountability.max_silence`).
 * Written to Redis directly (no daemon needed); the vault's managers are told at once and get a
 * summary when it ends. `vaultwatch silence --expire ID` ends one early; `vaultwatch silences` lists them.
 */
import { kindOfId } from '../pipeline/suppression.ts';
import { EXIT_OK, loadOrExit, UsageError } from './common.ts';
import { describe, listText, refusedBeforeConnecting, withSuppressions } from './suppression-common.ts';

export interface SilenceOptions {
  config: string;
  vault?: string;
  rule?: string;
  user?: string;
  item?: string;
  for?: string;
  from?: string;
  reason?: string;
  author?: string;
  expire?: string;
  json?: boolean;
}

export async function silenceCommand(o: SilenceOptions): Promise<number> {
  if (o.expire !== undefined) {
    const extra = (['vault', 'rule', 'user', 'item', 'for', 'from', 'reason'] as const).filter((k) => o[k] !== undefined);
    if (extra.length) throw new UsageError(`--expire takes only --author (and --config, --json); remove ${extra.map((k) => `--${k}`).join(', ')}`);
    if (kindOfId(o.expire) !== 'silence') throw new UsageError(`--expire: "${o.expire}" is not a silence id (s-xxxxxxxx)`);
    if (!o.author?.trim()) throw new UsageError('--author: required (who ends the silence)');
  }
  const rt = loadOrExit(o.config);
  const req = { vault: o.vault, rule: o.rule, user: o.user, item: o.item, for: o.for, from: o.from, reason: o.reason, author: o.author };
  if (o.expire === undefined) {
    const refused = refusedBeforeConnecting('silence', req, rt);
    if (refused !== undefined) return refused;
  }
  return withSuppressions(rt, async (svc) => {
    if (o.expire !== undefined) {
      const ended = await svc.end('silence', o.expire, o.author!);
      process.stdout.write(o.json ? `${JSON.stringify(ended)}\n` : `expired ${ended.id}; its summary goes to the managers shortly\n${describe(ended, Date.now())}`);
      return EXIT_OK;
    }
    const s = await svc.silence(req);
    if (s.notify.length === 0) process.stderr.write(`vaultwatch: warning: no policy of ${s.vault_name ?? s.vault} lists managers, so nobody is told about ${s.id}\n`);
    process.stdout.write(o.json ? `${JSON.stringify(s)}\n` : `silenced ${s.id}\n${describe(s, Date.now())}`);
    return EXIT_OK;
  });
}

/** `vaultwatch silences [--all] [--json]`. */
export async function silencesCommand(o: { config: string; all?: boolean; json?: boolean }): Promise<number> {
  const rt = loadOrExit(o.config);
  return withSuppressions(rt, async (svc) => {
    const list = await svc.list('silence', { all: o.all ?? false });
    if (o.json) for (const s of list) process.stdout.write(`${JSON.stringify(s)}\n`);
    else process.stdout.write(listText(list, Date.now(), 'silence', o.all ?? false));
    return EXIT_OK;
  });
}
