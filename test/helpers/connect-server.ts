/**
 * A local stand-in for a 1Password Connect server (REST API spec 1.7.1, /work/shared/specs), for
 * tests of the enrichment client.
 *
 * What Connect does that matters to us is imitated:
 *   - every /v1 route needs `Authorization: Bearer <token>`; without it, or with another token:
 *     401 `{"status":401,"message":"Invalid token signature"}`
 *   - `GET /v1/vaults` (vaults in scope), `GET /v1/vaults/{id}` (Vault), `GET /v1/vaults/{id}/items`
 *     (Item summaries: id, title, vault{id}, category, urls, favorite, tags, version, state,
 *     createdAt, updatedAt, lastEditedBy; NO field values), with SCIM `filter` (`title eq "X"`,
 *     `tag eq "Y"`, `name eq "X"`)
 *   - a vault the token may not read: 403 `vault {id} is not in scope`; an unknown one: 404
 *     `vault {id} not found`
 *   - `GET /v1/vaults/{id}/items/{itemId}` answers a FullItem WITH secret field values, like the real
 *     one; it is implemented (and recorded) so that a test can prove the enrichment never calls it
 *   - `/heartbeat` (text `.`) and `/health`, without auth
 * Everything received is recorded and counted; answers can be slowed down, made to fail (a status
 * for the next N requests or until cleared), and the whole server taken down and up again.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listen, shutdown } from './http-listen.ts';

export const CONNECT_TEST_TOKEN = 'connect-test-token.eyJhbGciOiJFUzI1NiJ9';

export interface ConnectItemFixture {
  id: string;
  title: string;
  /** Connect spelling: LOGIN, CREDIT_CARD, ...; anything is accepted (to test lenient parsing). */
  category: string;
  tags?: string[];
  urls?: { href: string; primary?: boolean; label?: string }[];
  state?: 'ARCHIVED' | 'DELETED';
  /** Secret values; only the single-item call returns them. */
  fields?: { id: string; label: string; type: string; purpose?: string; value: string }[];
}

export interface ConnectVaultFixture {
  id: string;
  name: string;
  description?: string;
  type?: 'USER_CREATED' | 'PERSONAL' | 'EVERYONE' | 'TRANSFER';
  /** False: the token may not read it (403 "not in scope"). Default true. */
  inScope?: boolean;
  items: ConnectItemFixture[];
}

export interface ConnectRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  time: Date;
  /** Status answered (0 while a slowed answer is still pending, or when the client went away). */
  status: number;
}

export interface ConnectFault {
  status: number;
  message?: string;
  /** Only requests whose path matches. Default: every /v1 request. */
  path?: RegExp;
  /** How many requests to fail; Infinity until clearFaults(). */
  count: number;
}

export interface StartConnectOptions {
  token?: string;
  vaults?: ConnectVaultFixture[];
}

export interface ConnectHandle {
  /** `http://127.0.0.1:PORT` (what `enrichment.onepassword_connect.url` takes). */
  readonly url: string;
  readonly port: number;
  readonly token: string;
  /** Every request received, in order. */
  readonly requests: ConnectRequest[];
  /** Requests whose path matches (`/v1/vaults/x/items`, or a RegExp). */
  count(path: string | RegExp): number;
  /** `GET /v1/vaults/{id}/items` requests for a vault. */
  listCount(vaultId: string): number;
  /** `GET /v1/vaults/{id}` requests for a vault. */
  vaultCount(vaultId: string): number;
  /** Requests for a single item (`/v1/vaults/{id}/items/{itemId}` and below): must stay empty. */
  singleItemRequests(): ConnectRequest[];
  /** Adds or replaces a vault. */
  putVault(vault: ConnectVaultFixture): void;
  /** Adds or replaces an item of a vault. */
  putItem(vaultId: string, item: ConnectItemFixture): void;
  removeItem(vaultId: string, itemId: string): void;
  setInScope(vaultId: string, inScope: boolean): void;
  /** Every answer waits this long first (0 = none). */
  setDelay(ms: number): void;
  fail(fault: Partial<ConnectFault> & { status: number }): void;
  clearFaults(): void;
  /** Forget recorded requests. */
  clearRequests(): void;
  /** Stop listening (connections are refused) / listen again on the same port. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

const VAULT_RE = /^\/v1\/vaults\/([^/]+)$/;
const ITEMS_RE = /^\/v1\/vaults\/([^/]+)\/items$/;
const ITEM_RE = /^\/v1\/vaults\/([^/]+)\/items\/([^/]+)(?:\/.*)?$/;
export const SINGLE_ITEM_PATH_RE = ITEM_RE;

export async function startConnect(opts: StartConnectOptions = {}): Promise<ConnectHandle> {
  const token = opts.token ?? CONNECT_TEST_TOKEN;
  const vaults = new Map<string, ConnectVaultFixture>();
  for (const v of opts.vaults ?? []) vaults.set(v.id, structuredClone(v));
  const requests: ConnectRequest[] = [];
  let faults: ConnectFault[] = [];
  let delayMs = 0;
  const created = '2026-01-05T09:00:00Z';

  const vaultJson = (v: ConnectVaultFixture): Record<string, unknown> => ({
    id: v.id,
    name: v.name,
    description: v.description ?? '',
    attributeVersion: 1,
    contentVersion: v.items.length + 1,
    items: v.items.filter((i) => i.state === undefined).length,
    type: v.type ?? 'USER_CREATED',
    createdAt: created,
    updatedAt: created,
  });
  const itemJson = (v: ConnectVaultFixture, i: ConnectItemFixture): Record<string, unknown> => ({
    id: i.id,
    title: i.title,
    vault: { id: v.id },
    category: i.category,
    urls: i.urls ?? [],
    favorite: false,
    tags: i.tags ?? [],
    version: 3,
    ...(i.state ? { state: i.state } : {}),
    createdAt: created,
    updatedAt: created,
    lastEditedBy: 'ZLKY7VLOSFHS5KUOAVPW3UBAAQ',
  });

  function route(method: string, path: string, query: Record<string, string>): [number, unknown] {
    if (method !== 'GET') return [405, { status: 405, message: 'method not allowed by this fake' }];
    if (path === '/v1/vaults') {
      let list = [...vaults.values()].filter((v) => v.inScope !== false);
      const name = scimEq(query.filter, 'name');
      if (name !== undefined) list = list.filter((v) => v.name === name);
      return [200, list.map(vaultJson)];
    }
    const m = VAULT_RE.exec(path) ?? ITEMS_RE.exec(path) ?? ITEM_RE.exec(path);
    if (!m) return [404, { status: 404, message: 'not found' }];
    const id = decodeURIComponent(m[1]!);
    const v = vaults.get(id);
    if (!v) return [404, { status: 404, message: `vault ${id} not found` }];
    if (v.inScope === false) return [403, { status: 403, message: `vault ${id} is not in scope` }];
    if (VAULT_RE.test(path)) return [200, vaultJson(v)];
    if (ITEMS_RE.test(path)) {
      let items = v.items;
      const title = scimEq(query.filter, 'title');
      const tag = scimEq(query.filter, 'tag');
      if (title !== undefined) items = items.filter((i) => i.title === title);
      if (tag !== undefined) items = items.filter((i) => (i.tags ?? []).includes(tag));
      return [200, items.map((i) => itemJson(v, i))];
    }
    // The single-item call: a FullItem with the secret values (what enrichment must never ask for).
    const item = v.items.find((i) => i.id === decodeURIComponent(m[2]!));
    if (!item) return [404, { status: 404, message: `item ${m[2]} not found` }];
    return [200, { ...itemJson(v, item), sections: [], fields: item.fields ?? [{ id: 'password', label: 'password', type: 'CONCEALED', purpose: 'PASSWORD', value: 'hunter2-secret' }], files: [] }];
  }

  function takeFault(path: string): ConnectFault | undefined {
    const f = faults.find((x) => x.path === undefined || x.path.test(path));
    if (f) {
      f.count -= 1;
      if (f.count <= 0) faults = faults.filter((x) => x !== f);
    }
    return f;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const rec: ConnectRequest = { method: req.method ?? 'GET', path, query: Object.fromEntries(url.searchParams), headers: req.headers, time: new Date(), status: 0 };
    requests.push(rec);
    // Drain the body (GETs have none) so keep-alive works.
    for await (const _ of req) { /* discard */ }
    if (delayMs > 0) {
      await new Promise((r) => setTimeout(r, delayMs).unref());
      if (res.destroyed || res.writableEnded) return; // the client gave up (timeout)
    }
    const answer = (status: number, body: unknown, type = 'application/json'): void => {
      rec.status = status;
      if (res.destroyed) {
        rec.status = 0;
        return;
      }
      res.writeHead(status, { 'Content-Type': type });
      res.end(type === 'application/json' ? JSON.stringify(body) : String(body));
    };
    if (path === '/heartbeat') return answer(200, '.', 'text/plain');
    if (path === '/health') return answer(200, { name: '1Password Connect API', version: '1.7.1', dependencies: [] });
    if (bearer(req.headers.authorization) !== token) return answer(401, { status: 401, message: 'Invalid token signature' });
    const fault = takeFault(path);
    if (fault) return answer(fault.status, { status: fault.status, message: fault.message ?? `injected ${fault.status}` });
    const [status, body] = route(rec.method, path, rec.query);
    answer(status, body);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ status: 500, message: `fake connect bug: ${String(err)}` }));
      }
    });
  });
  await listen(server, 0);
  let isUp = true;
  const port = (server.address() as AddressInfo).port;

  const vault = (id: string): ConnectVaultFixture => {
    const v = vaults.get(id);
    if (!v) throw new Error(`fake connect: no vault ${id}`);
    return v;
  };
  const count = (p: string | RegExp): number => requests.filter((r) => (typeof p === 'string' ? r.path === p : p.test(r.path))).length;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    token,
    requests,
    count,
    listCount: (id) => count(`/v1/vaults/${id}/items`),
    vaultCount: (id) => count(`/v1/vaults/${id}`),
    singleItemRequests: () => requests.filter((r) => ITEM_RE.test(r.path)),
    putVault(v) {
      vaults.set(v.id, structuredClone(v));
    },
    putItem(vaultId, item) {
      const v = vault(vaultId);
      v.items = [...v.items.filter((i) => i.id !== item.id), structuredClone(item)];
    },
    removeItem(vaultId, itemId) {
      const v = vault(vaultId);
      v.items = v.items.filter((i) => i.id !== itemId);
    },
    setInScope(vaultId, inScope) {
      vault(vaultId).inScope = inScope;
    },
    setDelay(ms) {
      delayMs = ms;
    },
    fail(f) {
      faults.push({ count: Infinity, ...f });
    },
    clearFaults() {
      faults = [];
    },
    clearRequests() {
      requests.length = 0;
    },
    async down() {
      if (!isUp) return;
      isUp = false;
      await shutdown(server);
    },
    async up() {
      if (isUp) return;
      await listen(server, port);
      isUp = true;
    },
    async close() {
      if (!isUp) return;
      isUp = false;
      await shutdown(server);
    },
  };
}

/** `title eq "X"` -> X for attribute `title`; undefined when the filter is about something else. */
function scimEq(filter: string | undefined, attribute: string): string | undefined {
  if (filter === undefined) return undefined;
  const m = /^\s*(\w+)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$/i.exec(filter);
  return m && m[1]!.toLowerCase() === attribute ? m[2]!.replace(/\\(.)/g, '$1') : undefined;
}

function bearer(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^Bearer\s+(.+)$/i.exec(header);
  return m?.[1];
}
