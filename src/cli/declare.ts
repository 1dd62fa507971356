/**
 * `vaultwatch declare`: a break-glass declaration, written to Redis directly (no daemon needed).
 * While it lasts, alerts about that person's use of that vault (or item) are recorded but not sent;
 * the vault's managers are told at once and get one summary when it ends.
 * `vaultwatch declare --cancel ID` ends one early; `vaultwatch declarations` lists them.
 */
import { kindOfId } from '../pipeline/suppression.ts';
import { EXIT_OK, loadOrExit, UsageError } from './common.ts';
import { defaultAuthor, describe, listText, refusedBeforeConnecting, withSuppressions } from './suppression-common.ts';

export interface DeclareOptions {
  config: string;
  user?: string;
  vault?: string;
  item?: string;
  for?: string;
  from?: string;
  reason?: string;
  ticket?: string;
  author?: string;
  cancel?: string;
  json?: boolean;
}

export async function declareCommand(o: DeclareOptions): Promise<number> {
  if (o.cancel !== undefined) {
    const extra = (['user', 'vault', 'item', 'for', 'from', 'reason', 'ticket'] as const).filter((k) => o[k] !== undefined);
    if (extra.length) throw new UsageError(`--cancel takes only --author (and --config, --json); remove ${extra.map((k) => `--${k}`).join(', ')}`);
    if (kindOfId(o.cancel) !== 'declaration') throw new UsageError(`--cancel: "${o.cancel}" is not a declaration id (d-xxxxxxxx)`);
  }
  const rt = loadOrExit(o.config);
  const req = {
    user: o.user, vault: o.vault, item: o.item, for: o.for, from: o.from, reason: o.reason, ticket: o.ticket,
    author: o.author ?? defaultAuthor(),
  };
  if (o.cancel === undefined) {
    const refused = refusedBeforeConnecting('declaration', req, rt);
    if (refused !== undefined) return refused;
  }
  return withSuppressions(rt, async (svc) => {
    if (o.cancel !== undefined) {
      const ended = await svc.end('declaration', o.cancel, o.author ?? defaultAuthor());
      process.stdout.write(o.json ? `${JSON.stringify(ended)}\n` : `ended ${ended.id}; its summary goes to the managers shortly\n${describe(ended, Date.now())}`);
      return EXIT_OK;
    }
    const d = await svc.declare(req);
    if (d.notify.length === 0) process.stderr.write(`vaultwatch: warning: no policy of ${d.vault_name ?? d.vault} lists managers, so nobody is told about ${d.id}\n`);
    process.stdout.write(o.json ? `${JSON.stringify(d)}\n` : `declared ${d.id}\n${describe(d, Date.now())}`);
    return EXIT_OK;
  });
}

/** `vaultwatch declarations [--all] [--json]`. */
export async function declarationsCommand(o: { config: string; all?: boolean; json?: boolean }): Promise<number> {
  const rt = loadOrExit(o.config);
  return withSuppressions(rt, async (svc) => {
    const list = await svc.list('declaration', { all: o.all ?? false });
    if (o.json) for (const d of list) process.stdout.write(`${JSON.stringify(d)}\n`);
    else process.stdout.write(listText(list, Date.now(), 'declaration', o.all ?? false));
    return EXIT_OK;
  });
}
