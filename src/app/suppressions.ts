/**
 * Declarations and silences as operations: check the request, resolve the vault through the
 * configuration, store the record, announce it to the vault's managers and schedule its summary.
 * The CLI (which writes to Redis directly, daemon or not) and the admin API both go through here.
 *
 * Announcing: the CLI enqueues the BullMQ notification jobs itself (one per manager, deterministic
 * ids), the same jobs the evaluator makes for alerts. They wait in Redis until a daemon's delivery
 * workers take them, so a declaration made while no daemon runs is announced when one starts; and
 * nothing in the daemon has to watch for new records. The summary is a BullMQ delayed job for the
 * same reason (queue/suppression-summary.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Runtime } from './load-runtime.ts';
import type { ConfigFile } from '../config/schema.ts';
import type { Alert } from '../domain/alert.ts';
import { parseDuration } from '../domain/duration.ts';
import { formatTarget } from '../domain/target.ts';
import { announcementAlert, summaryAlert } from '../pipeline/suppression-notices.ts';
import {
  checkRequest, SuppressionError, newSuppressionId, type CoveredEntry, type Declaration, type Silence, type Suppression,
  type SuppressionKind, type SuppressionRequest,
} from '../pipeline/suppression.ts';
import { GlobSet } from '../policy/glob.ts';
import type { CompiledPolicy } from '../policy/policy-set.ts';
import type { AlertStore } from '../queue/alert-store.ts';
import type { NotifyQueues } from '../queue/notify.ts';
import type { SuppressionStore } from '../queue/suppression-store.ts';
import type { SummaryQueue } from '../queue/suppression-summary.ts';

export const DEFAULT_MAX_DECLARATION_MS = 24 * 3_600_000;
export const DEFAULT_MAX_SILENCE_MS = 7 * 86_400_000;
export const DEFAULT_SUMMARY_DELAY_MS = 2_000;

export interface SuppressionLimits {
  maxDeclarationMs: number;
  maxSilenceMs: number;
  /** After the end, before the summary: events judged meanwhile still make it in. */
  summaryDelayMs: number;
}

export function suppressionLimits(cfg: ConfigFile): SuppressionLimits {
  const a = cfg.accountability;
  return {
    maxDeclarationMs: parseDuration(a?.max_declaration ?? '') ?? DEFAULT_MAX_DECLARATION_MS,
    maxSilenceMs: parseDuration(a?.max_silence ?? '') ?? DEFAULT_MAX_SILENCE_MS,
    summaryDelayMs: parseDuration(a?.summary_delay ?? '') ?? DEFAULT_SUMMARY_DELAY_MS,
  };
}

export interface SuppressionServiceDeps {
  /** The configuration in force (the daemon's changes on reload). */
  runtime: () => Runtime;
  store: SuppressionStore;
  summaries: SummaryQueue;
  queues: NotifyQueues;
  alerts: AlertStore;
  now?: () => number;
  random?: (n: number) => Uint8Array;
}

export class SuppressionService {
  private readonly now: () => number;

  constructor(private readonly d: SuppressionServiceDeps) {
    this.now = d.now ?? Date.now;
  }

  get limits(): SuppressionLimits {
    return suppressionLimits(this.d.runtime().config);
  }

  async declare(req: SuppressionRequest): Promise<Declaration> {
    return (await this.create('declaration', req)) as Declaration;
  }

  async silence(req: SuppressionRequest): Promise<Silence> {
    return (await this.create('silence', req)) as Silence;
  }

  /** Ends one now; its summary follows after `summary_delay`. */
  async end(kind: SuppressionKind, id: string, by: string): Promise<Suppression> {
    const author = by.trim();
    if (author === '') throw new SuppressionError('invalid', [{ field: 'author', message: 'must not be empty' }]);
    const ended = await this.d.store.end(kind, id, author);
    await this.d.summaries.endedEarly(ended, this.limits.summaryDelayMs);
    return ended;
  }

  list(kind: SuppressionKind, opts: { all?: boolean } = {}): Promise<Suppression[]> {
    return this.d.store.list(kind, opts);
  }

  get(kind: SuppressionKind, id: string): Promise<Suppression | undefined> {
    return this.d.store.get(kind, id);
  }

  private async create(kind: SuppressionKind, req: SuppressionRequest): Promise<Suppression> {
    const rt = this.d.runtime();
    const now = this.now();
    const draft = prepareSuppression(kind, req, rt, now);
    const random = this.d.random ?? ((n: number) => randomBytes(n));
    for (let attempt = 0; attempt < 5; attempt++) {
      const s = { ...draft, id: newSuppressionId(kind, random) } as Suppression;
      if (!(await this.d.store.create(s))) continue;
      await this.d.summaries.schedule(s, suppressionLimits(rt.config).summaryDelayMs);
      await sendNotice(announcementAlert(s), this.d, now);
      return s;
    }
    throw new Error(`could not draw a free ${kind} id`);
  }
}

/** A record as it will be stored, but for its id. */
export type SuppressionDraft = Omit<Declaration, 'id'> | Omit<Silence, 'id'>;

/**
 * Checks a request against the limits and resolves its vault (and the rule of a silence) through the
 * configuration, without touching Redis: the CLI runs it before connecting, so a refused request says
 * so (exit 2) whether or not Redis is reachable. Throws a SuppressionError naming every problem.
 */
export function prepareSuppression(kind: SuppressionKind, req: SuppressionRequest, rt: Runtime, nowMs: number): SuppressionDraft {
  const limits = suppressionLimits(rt.config);
  const problems: { field?: string; message: string }[] = [];
  let checked: ReturnType<typeof checkRequest> | undefined;
  try {
    checked = checkRequest(kind, req, {
      nowMs,
      maxMs: kind === 'declaration' ? limits.maxDeclarationMs : limits.maxSilenceMs,
      maxKey: kind === 'declaration' ? 'accountability.max_declaration' : 'accountability.max_silence',
    });
  } catch (err) {
    if (!(err instanceof SuppressionError)) throw err;
    problems.push(...err.problems);
  }
  // The vault is resolved even when other fields are wrong, so one answer names every problem.
  const vaultText = typeof req.vault === 'string' ? req.vault.trim() : '';
  const vault = vaultText ? resolveVault(vaultText, rt, problems) : undefined;
  if (vault && checked?.rule !== undefined) checkRule(checked.rule, vault.policies, problems);
  if (problems.length || !checked || !vault) throw new SuppressionError('invalid', problems);

  const itemTitle = checked.item !== undefined ? catalogItemTitle(rt, checked.item) : undefined;
  const base = {
    vault: vault.id,
    ...(vault.name ? { vault_name: vault.name } : {}),
    ...(checked.item !== undefined ? { item: checked.item } : {}),
    ...(itemTitle ? { item_title: itemTitle } : {}),
    from: new Date(checked.from_ms).toISOString(),
    until: new Date(checked.until_ms).toISOString(),
    from_ms: checked.from_ms,
    until_ms: checked.until_ms,
    reason: checked.reason,
    author: checked.author,
    created_at: new Date(nowMs).toISOString(),
    notify: vault.notify,
    policy: vault.policy,
    timezone: vault.timezone,
  };
  return kind === 'declaration'
    ? { kind, user: checked.user!, ...(checked.ticket !== undefined ? { ticket: checked.ticket } : {}), ...base }
    : { kind, ...(checked.rule !== undefined ? { rule: checked.rule } : {}), ...(checked.user !== undefined ? { user: checked.user } : {}), ...base };
}

/** The summary of a record that ended: recorded with the alerts and sent to the managers told at the start. */
export async function deliverSummary(s: Suppression, entries: CoveredEntry[], d: { alerts: AlertStore; queues: NotifyQueues }, nowMs: number): Promise<Alert> {
  const alert = summaryAlert(s, entries);
  await sendNotice(alert, d, nowMs);
  return alert;
}

async function sendNotice(alert: Alert, d: { alerts: AlertStore; queues: NotifyQueues }, nowMs: number): Promise<void> {
  const at = new Date(nowMs).toISOString();
  await d.alerts.record([{ alert, deliveries: alert.targets.map((t) => ({ target: formatTarget(t), state: 'pending' as const, attempts: 0, updated_at: at })) }]);
  await d.queues.enqueue(alert.targets.map((target) => ({ alert, target, purpose: 'alert' as const, received_at: at })));
}

// ---------------------------------------------------------------------------------------------------
// Vaults, rules and items, from the configuration

interface VaultInfo {
  id: string;
  name?: string;
  policy: string;
  timezone: string;
  /** The managers of every policy that names the vault, as formatted targets, duplicates removed. */
  notify: string[];
  policies: CompiledPolicy[];
}

/** An id or a name (policy `vault.name` or catalog label), case-insensitive, to the vault id events carry. */
export function resolveVault(text: string, rt: Runtime, problems: { field?: string; message: string }[]): VaultInfo | undefined {
  const catalogVaults = rt.loaded.catalog?.value?.vaults ?? {};
  const catalogName = (id: string) => Object.entries(catalogVaults).find(([k]) => k.toLowerCase() === id.toLowerCase())?.[1].name;
  const known = new Map<string, { id: string; names: string[]; policies: CompiledPolicy[] }>();
  for (const p of rt.policies.policies) {
    for (const v of p.vaults) {
      const k = v.id.toLowerCase();
      const entry = known.get(k) ?? { id: v.id, names: [], policies: [] };
      if (!entry.policies.includes(p)) entry.policies.push(p);
      for (const n of [catalogName(v.id), v.name]) if (n && !entry.names.includes(n)) entry.names.push(n);
      known.set(k, entry);
    }
  }
  const t = text.toLowerCase();
  let hit = known.get(t);
  if (!hit) {
    const byName = [...known.values()].filter((k) => k.names.some((n) => n.toLowerCase() === t));
    if (byName.length > 1) {
      problems.push({ field: 'vault', message: `"${text}" names ${byName.length} vaults (${byName.map((b) => b.id).join(', ')}); give the id` });
      return undefined;
    }
    hit = byName[0];
  }
  if (!hit) {
    const list = [...known.values()].map((k) => (k.names[0] ? `${k.names[0]} (${k.id})` : k.id)).sort();
    problems.push({ field: 'vault', message: `no policy names the vault "${text}"${list.length ? `; known: ${list.slice(0, 10).join(', ')}${list.length > 10 ? ', …' : ''}` : ''}` });
    return undefined;
  }
  const notify: string[] = [];
  for (const p of hit.policies) {
    for (const m of p.rules[0]?.managers ?? []) {
      const f = formatTarget(m.target);
      if (!notify.includes(f)) notify.push(f);
    }
  }
  const first = hit.policies[0]!;
  return {
    id: hit.id,
    ...(hit.names[0] ? { name: hit.names[0] } : {}),
    policy: first.file,
    timezone: first.timezone,
    notify,
    policies: hit.policies,
  };
}

function checkRule(rule: string, policies: readonly CompiledPolicy[], problems: { field?: string; message: string }[]): void {
  const names = [...new Set(policies.flatMap((p) => p.rules.map((r) => r.name)))];
  const glob = new GlobSet([rule]);
  if (names.some((n) => glob.matches(n))) return;
  problems.push({ field: 'rule', message: `no rule "${rule}" in this vault's policies${names.length ? ` (rules: ${names.slice(0, 10).map((n) => `"${n}"`).join(', ')})` : ''}` });
}

function catalogItemTitle(rt: Runtime, item: string): string | undefined {
  const items = rt.loaded.catalog?.value?.items ?? {};
  return Object.entries(items).find(([k]) => k.toLowerCase() === item.toLowerCase())?.[1].title;
}
