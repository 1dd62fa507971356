/**
 * Records already in the canonical shape (events.md "Canonical usage event"), as sent to the webhook
 * or written in replay files. They are our own format, so a field of the wrong type is rejected with
 * its path (the sender sees it in the ingest report); values outside a vocabulary are softened
 * instead: an unknown action is `other`, an unknown item type `unknown`, an unknown field dropped.
 */
import { type Action, type Field, FIELDS, isAction } from '../../domain/actions.ts';
import { type ItemType, isItemType, itemTypeFromConnect, itemTypeFromSdk } from '../../domain/item-types.ts';
import type { NormalizeResult, UsageEvent } from '../../domain/usage-event.ts';
import {
  type NormalizeContext, type Rec,
  asString, neverThrows, isRecord, normalizeCountry, normalizeIp, parseInstant, rejected,
  stringFieldProblem, timeFieldProblem,
} from '../normalize-common.ts';

export const DEFAULT_CANONICAL_SOURCE = 'webhook';

/** A field that is present but unusable. Only built on the failure path. */
class Problem {
  constructor(readonly reason: string) {}
}

type Read<T> = T | undefined | Problem;

const FIELD_SET: ReadonlySet<string> = new Set(FIELDS);

function isField(value: string): value is Field {
  return FIELD_SET.has(value);
}

/** Null counts as absent: other systems write `"name": null` for what they do not know. */
function optString(obj: Rec, key: string, path: string): Read<string> {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return new Problem(`${path}: not a string`);
  return asString(v);
}

/** Version numbers and vendor codes are sometimes numbers; both read as text. */
function optText(obj: Rec, key: string, path: string): Read<string> {
  const v = obj[key];
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : new Problem(`${path}: not a string`);
  return optString(obj, key, path);
}

function optObject(obj: Rec, key: string): Read<Rec> {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  return isRecord(v) ? v : new Problem(`${key}: not an object`);
}

// The SDK spells categories in PascalCase. Checked before itemTypeFromSdk, whose rename table is a
// plain object: `constructor` or `toString` would otherwise come back as inherited functions.
const SDK_SPELLING = /^[A-Z][A-Za-z]*$/;

function readItemType(text: string): ItemType {
  if (isItemType(text)) return text;
  // Senders forwarding 1Password categories may keep the Connect (`CREDIT_CARD`) or SDK (`CreditCard`) spelling.
  const connect = itemTypeFromConnect(text);
  if (connect !== 'unknown' || !SDK_SPELLING.test(text)) return connect;
  return itemTypeFromSdk(text);
}

function readTags(item: Rec): Read<string[]> {
  const v = item['tags'];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) return new Problem('item.tags: not a list of strings');
  const tags: string[] = [];
  for (const tag of v) {
    if (typeof tag !== 'string') return new Problem('item.tags: not a list of strings');
    const t = tag.trim();
    if (t !== '') tags.push(t);
  }
  return tags;
}

function readItem(record: Rec): UsageEvent['item'] | Problem {
  const item = record['item'];
  if (!isRecord(item)) return new Problem(item === undefined || item === null ? 'item: missing' : 'item: not an object');
  const id = asString(item['id']);
  if (id === undefined) return new Problem(stringFieldProblem(item, 'id', 'item.id'));
  const title = optString(item, 'title', 'item.title');
  if (title instanceof Problem) return title;
  const type = optString(item, 'type', 'item.type');
  if (type instanceof Problem) return type;
  const tags = readTags(item);
  if (tags instanceof Problem) return tags;
  const out: UsageEvent['item'] = { id };
  if (title !== undefined) out.title = title;
  if (type !== undefined) out.type = readItemType(type);
  if (tags !== undefined) out.tags = tags;
  return out;
}

/** `vault` is `{id, name?}`, or just the id as a string. */
function readVault(record: Rec): UsageEvent['vault'] | Problem {
  const v = record['vault'];
  const asId = asString(v);
  if (asId !== undefined) return { id: asId };
  if (!isRecord(v)) {
    return new Problem(v === undefined || v === null || typeof v === 'string' ? 'vault.id: missing' : 'vault: not an object');
  }
  const id = asString(v['id']);
  if (id === undefined) return new Problem(stringFieldProblem(v, 'id', 'vault.id'));
  const name = optString(v, 'name', 'vault.name');
  if (name instanceof Problem) return name;
  return name === undefined ? { id } : { id, name };
}

/** `user` is `{id?, email?, name?}` with an id or an email (the email then is the id), or the id as a string. */
function readUser(record: Rec): UsageEvent['user'] | Problem {
  const u = record['user'];
  const asId = asString(u);
  if (asId !== undefined) return { id: asId };
  if (!isRecord(u)) {
    return new Problem(u === undefined || u === null || typeof u === 'string' ? 'user.id: missing' : 'user: not an object');
  }
  const id = optString(u, 'id', 'user.id');
  if (id instanceof Problem) return id;
  const email = optString(u, 'email', 'user.email');
  if (email instanceof Problem) return email;
  const name = optString(u, 'name', 'user.name');
  if (name instanceof Problem) return name;
  const key = id ?? email;
  if (key === undefined) return new Problem('user.id: missing (give user.id or user.email)');
  const out: UsageEvent['user'] = { id: key };
  if (email !== undefined) out.email = email;
  if (name !== undefined) out.name = name;
  return out;
}

/** The first Problem among some reads, if any. */
function firstProblem(...reads: unknown[]): Problem | undefined {
  for (const r of reads) if (r instanceof Problem) return r;
  return undefined;
}

// Fields are read one by one rather than in a loop over key names: a fixed object shape keeps
// property stores monomorphic, which this per-event path needs.
function readClient(record: Rec): Read<NonNullable<UsageEvent['client']>> {
  const client = optObject(record, 'client');
  if (client === undefined || client instanceof Problem) return client;
  const app = optString(client, 'app', 'client.app');
  const version = optText(client, 'version', 'client.version');
  const platform = optString(client, 'platform', 'client.platform');
  const os = optString(client, 'os', 'client.os');
  const ip = optString(client, 'ip', 'client.ip');
  const problem = firstProblem(app, version, platform, os, ip);
  if (problem !== undefined) return problem;
  if (app === undefined && version === undefined && platform === undefined && os === undefined && ip === undefined) {
    return undefined;
  }
  const out: NonNullable<UsageEvent['client']> = {};
  if (typeof app === 'string') out.app = app;
  if (typeof version === 'string') out.version = version;
  if (typeof platform === 'string') out.platform = platform;
  if (typeof os === 'string') out.os = os;
  if (typeof ip === 'string') out.ip = normalizeIp(ip);
  return out;
}

function readLocation(record: Rec): Read<NonNullable<UsageEvent['location']>> {
  const location = optObject(record, 'location');
  if (location === undefined || location instanceof Problem) return location;
  const country = optString(location, 'country', 'location.country');
  const region = optString(location, 'region', 'location.region');
  const city = optString(location, 'city', 'location.city');
  const problem = firstProblem(country, region, city);
  if (problem !== undefined) return problem;
  if (country === undefined && region === undefined && city === undefined) return undefined;
  const out: NonNullable<UsageEvent['location']> = {};
  if (typeof country === 'string') out.country = normalizeCountry(country);
  if (typeof region === 'string') out.region = region;
  if (typeof city === 'string') out.city = city;
  return out;
}

interface ActionParts { action: Action; vendor_action: string; field?: Field }

function readAction(record: Rec): ActionParts | Problem {
  const given = optString(record, 'action', 'action');
  if (given instanceof Problem) return given;
  const vendor = optText(record, 'vendor_action', 'vendor_action');
  if (vendor instanceof Problem) return vendor;
  const field = optString(record, 'field', 'field');
  if (field instanceof Problem) return field;
  const parts: ActionParts = {
    action: isAction(given) ? given : 'other',
    vendor_action: vendor ?? given ?? '',
  };
  // A field outside the canonical list says nothing policies can match on: dropped, not rejected.
  if (field !== undefined && isField(field)) parts.field = field;
  return parts;
}

function normalize(record: unknown, ctx: NormalizeContext): NormalizeResult {
  if (!isRecord(record)) return rejected('record: not an object');
  const id = asString(record['id']);
  if (id === undefined) return rejected(stringFieldProblem(record, 'id', 'id'));
  const instant = parseInstant(record['time']);
  if (instant === undefined) return rejected(timeFieldProblem(record, 'time'), id);
  const item = readItem(record);
  if (item instanceof Problem) return rejected(item.reason, id);
  const vault = readVault(record);
  if (vault instanceof Problem) return rejected(vault.reason, id);
  const user = readUser(record);
  if (user instanceof Problem) return rejected(user.reason, id);
  const action = readAction(record);
  if (action instanceof Problem) return rejected(action.reason, id);
  const source = optString(record, 'source', 'source');
  if (source instanceof Problem) return rejected(source.reason, id);
  const client = readClient(record);
  if (client instanceof Problem) return rejected(client.reason, id);
  const location = readLocation(record);
  if (location instanceof Problem) return rejected(location.reason, id);

  const event: UsageEvent = {
    id,
    source: source ?? ctx.source ?? DEFAULT_CANONICAL_SOURCE,
    time: instant.iso,
    time_ms: instant.ms,
    received_at: ctx.receivedAt,
    action: action.action,
    vendor_action: action.vendor_action,
    vault,
    item,
    user,
  };
  if (action.field !== undefined) event.field = action.field;
  if (client !== undefined) event.client = client;
  if (location !== undefined) event.location = location;
  return { kind: 'event', event };
}

/** One canonical record (webhook, replay) -> event or rejection. Never throws. */
export const normalizeCanonical: (record: unknown, ctx: NormalizeContext) => NormalizeResult = neverThrows(normalize);
