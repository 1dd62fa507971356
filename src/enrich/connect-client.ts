/**
 * A read-only 1Password Connect client for enrichment (spec 1.7.1; sources.md §2.1).
 *
 * It makes exactly two kinds of request, both summaries without secret values:
 *   GET {url}/v1/vaults/{vaultId}         -> the vault's name
 *   GET {url}/v1/vaults/{vaultId}/items   -> every item's id, title, category and tags
 * It never calls GET /v1/vaults/{vaultId}/items/{itemId}: that answer carries field VALUES (secrets)
 * and itself counts as a use of the item. The path of every request is checked against those two
 * shapes before it is sent (vault ids must be Connect uuids, so an id cannot smuggle in `/items/x`),
 * and redirects are refused, so no answer can send us elsewhere either.
 */
import { itemTypeFromConnect, type ItemType } from '../domain/item-types.ts';

export const CONNECT_TIMEOUT_MS = 5_000;

/** Connect's uuid shape for vaults and items (spec: `^[\da-z]{26}$`). */
const CONNECT_ID_RE = /^[\da-z]{26}$/;

/** True when `id` (in any case) can be a Connect vault or item uuid. Bitwarden GUIDs and `org:...` cannot. */
export function isConnectId(id: string): boolean {
  return CONNECT_ID_RE.test(id.toLowerCase());
}

/** The only paths this client may request. Anything else is a bug and throws before any I/O. */
const ALLOWED_PATHS: readonly RegExp[] = [/^\/v1\/vaults\/[\da-z]{26}$/, /^\/v1\/vaults\/[\da-z]{26}\/items$/];

export function isAllowedConnectPath(path: string): boolean {
  return ALLOWED_PATHS.some((re) => re.test(path));
}

/** An item as the list call describes it: labels only, never a field value. */
export interface ConnectItem {
  /** Lower-case Connect uuid. */
  id: string;
  title?: string;
  /** `category` through itemTypeFromConnect: an unknown category is `unknown`, never an error. */
  type: ItemType;
  tags: string[];
  /** Lower-case vault uuid, when the answer names it. */
  vaultId?: string;
}

export interface ConnectVault {
  id: string;
  name?: string;
}

export type ConnectErrorKind =
  /** No answer within the timeout. */
  | 'timeout'
  /** Connection refused, DNS, TLS, a redirect: no HTTP answer we could use. */
  | 'unreachable'
  /** 401: the token is missing, expired or wrong. */
  | 'unauthorized'
  /** 403: the token has no access to this vault ("vault ... is not in scope"). */
  | 'forbidden'
  /** 404: no such vault. */
  | 'not_found'
  /** 5xx, 429 or another status we did not expect. */
  | 'server'
  /** 2xx whose body is not what the spec describes. */
  | 'bad_response'
  /** The vault id is not a Connect uuid; nothing was sent. */
  | 'invalid_id';

/** A failed Connect call. The message never holds the token. */
export class ConnectError extends Error {
  override readonly name = 'ConnectError';
  constructor(readonly kind: ConnectErrorKind, message: string, readonly status?: number) {
    super(message);
  }
}

export function isConnectError(err: unknown): err is ConnectError {
  return err instanceof ConnectError;
}

/** What the enricher needs from Connect (tests may pass their own). */
export interface ConnectLookup {
  listItems(vaultId: string): Promise<ConnectItem[]>;
  getVault(vaultId: string): Promise<ConnectVault>;
}

export interface ConnectClientOptions {
  /** `http://connect:8080`; a trailing `/v1` is accepted and dropped. */
  url: string;
  token: string;
  /** Per request, including reading the body. Default 5 s. */
  timeoutMs?: number;
  userAgent?: string;
  /** Observes every request made (metrics hook): the path, the HTTP status (0 = none) and the duration. */
  onRequest?: (info: { path: string; status: number; ms: number; error?: ConnectErrorKind }) => void;
}

export class ConnectClient implements ConnectLookup {
  private readonly base: string;
  private readonly timeoutMs: number;

  constructor(private readonly opts: ConnectClientOptions) {
    this.base = opts.url.trim().replace(/\/+$/, '').replace(/\/v1$/, '');
    this.timeoutMs = opts.timeoutMs ?? CONNECT_TIMEOUT_MS;
  }

  /** `GET /v1/vaults/{vaultId}/items`: every item of the vault, as labels. */
  async listItems(vaultId: string): Promise<ConnectItem[]> {
    const id = vaultUuid(vaultId);
    const body = await this.get(`/v1/vaults/${id}/items`);
    if (!Array.isArray(body)) throw new ConnectError('bad_response', `Connect answered GET /v1/vaults/${id}/items with ${describe(body)}, not an array of items`);
    const items: ConnectItem[] = [];
    for (const raw of body) {
      const item = parseItem(raw);
      if (item) items.push(item);
    }
    return items;
  }

  /** `GET /v1/vaults/{vaultId}`: the vault's name. */
  async getVault(vaultId: string): Promise<ConnectVault> {
    const id = vaultUuid(vaultId);
    const body = await this.get(`/v1/vaults/${id}`);
    if (!isRecord(body)) throw new ConnectError('bad_response', `Connect answered GET /v1/vaults/${id} with ${describe(body)}, not a vault`);
    return { id, ...(typeof body.name === 'string' && body.name !== '' ? { name: body.name } : {}) };
  }

  private async get(path: string): Promise<unknown> {
    // The guard of last resort: the single-item path (and anything else) is never requested.
    if (!isAllowedConnectPath(path)) throw new Error(`vaultwatch bug: refusing to request ${path} from Connect (only vault and item-list reads are allowed)`);
    const started = Date.now();
    const done = (status: number, error?: ConnectErrorKind): void => {
      this.opts.onRequest?.({ path, status, ms: Date.now() - started, ...(error ? { error } : {}) });
    };
    let res: Response;
    let text: string;
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      res = await fetch(`${this.base}${path}`, {
        method: 'GET',
        headers: {
          authorization: `Bearer ${this.opts.token}`,
          accept: 'application/json',
          'user-agent': this.opts.userAgent ?? 'vaultwatch',
        },
        redirect: 'error',
        signal,
      });
      text = await res.text();
    } catch (err) {
      const timedOut = signal.aborted;
      const kind: ConnectErrorKind = timedOut ? 'timeout' : 'unreachable';
      done(0, kind);
      throw new ConnectError(kind, timedOut
        ? `Connect did not answer GET ${path} within ${this.timeoutMs} ms`
        : `Connect unreachable for GET ${path}: ${causeOf(err)}`);
    }
    if (!res.ok) {
      const kind = kindOf(res.status);
      done(res.status, kind);
      throw new ConnectError(kind, `Connect answered GET ${path} with ${res.status}${errorMessage(text)}`, res.status);
    }
    try {
      const body = JSON.parse(text) as unknown;
      done(res.status);
      return body;
    } catch {
      done(res.status, 'bad_response');
      throw new ConnectError('bad_response', `Connect answered GET ${path} with ${res.status} and a body that is not JSON`, res.status);
    }
  }
}

function vaultUuid(vaultId: string): string {
  const id = vaultId.toLowerCase();
  if (!CONNECT_ID_RE.test(id)) throw new ConnectError('invalid_id', `not a Connect vault id: ${JSON.stringify(vaultId.slice(0, 60))}`);
  return id;
}

/** One element of the list answer; anything without a usable id is dropped, never an error. */
function parseItem(raw: unknown): ConnectItem | undefined {
  if (!isRecord(raw) || typeof raw.id !== 'string' || raw.id === '') return undefined;
  const vault = isRecord(raw.vault) && typeof raw.vault.id === 'string' ? raw.vault.id.toLowerCase() : undefined;
  return {
    id: raw.id.toLowerCase(),
    ...(typeof raw.title === 'string' ? { title: raw.title } : {}),
    type: itemTypeFromConnect(typeof raw.category === 'string' ? raw.category : ''),
    tags: Array.isArray(raw.tags) ? raw.tags.filter((t): t is string => typeof t === 'string' && t !== '') : [],
    ...(vault ? { vaultId: vault } : {}),
  };
}

function kindOf(status: number): ConnectErrorKind {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  return 'server';
}

/** `: vault ... is not in scope` from Connect's ErrorResponse `{status, message}`, when there is one. */
function errorMessage(text: string): string {
  try {
    const body = JSON.parse(text) as unknown;
    if (isRecord(body) && typeof body.message === 'string' && body.message !== '') return `: ${body.message.slice(0, 200)}`;
  } catch {
    // not JSON: the status says enough
  }
  return '';
}

function causeOf(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

function describe(body: unknown): string {
  return body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
