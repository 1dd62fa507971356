/**
 * The Connect client against the local Connect fake (spec 1.7.1): what it asks for, how it reads the
 * answers, how each failure is classified, and that it can never ask for a single item (the call
 * that returns secret values).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConnectClient, ConnectError, isAllowedConnectPath, isConnectId } from '../../../src/enrich/connect-client.ts';
import { SINGLE_ITEM_PATH_RE, startConnect, type ConnectHandle } from '../../helpers/connect-server.ts';
import { BANK, CARD, FINANCE, GHOST, HR, resetConnect, WALLET, allVaults } from './fixtures.ts';

async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectError);
    return err as ConnectError;
  }
  throw new Error('expected the Connect call to fail');
}

describe('Connect client', () => {
  let connect: ConnectHandle;
  let client: ConnectClient;

  beforeAll(async () => {
    connect = await startConnect({ vaults: allVaults() });
    client = new ConnectClient({ url: connect.url, token: connect.token, timeoutMs: 2_000 });
  });
  beforeEach(() => resetConnect(connect));
  afterEach(() => {
    // Whatever a test did, the single-item path (secret values) was never requested.
    expect(connect.singleItemRequests().map((r) => r.path)).toEqual([]);
  });
  afterAll(async () => {
    await connect?.close();
  });

  it('lists a vault\'s items with GET /v1/vaults/{id}/items and a bearer token: titles, types, tags', async () => {
    const items = await client.listItems(FINANCE);
    expect(items).toEqual([
      { id: CARD, title: 'Amex Corporate', type: 'credit_card', tags: ['card', 'finance'], vaultId: FINANCE },
      { id: BANK, title: 'Business bank account', type: 'bank_account', tags: [], vaultId: FINANCE },
      // A category Connect 1.7.1 does not define is `unknown`, not an error.
      { id: WALLET, title: 'Treasury wallet', type: 'unknown', tags: ['crypto'], vaultId: FINANCE },
    ]);
    expect(connect.requests).toHaveLength(1);
    const [req] = connect.requests;
    expect(req!.method).toBe('GET');
    expect(req!.path).toBe(`/v1/vaults/${FINANCE}/items`);
    expect(req!.headers.authorization).toBe(`Bearer ${connect.token}`);
    expect(req!.status).toBe(200);
  });

  it('reads the vault name with GET /v1/vaults/{id}', async () => {
    expect(await client.getVault(FINANCE)).toEqual({ id: FINANCE, name: 'Finance' });
    expect(connect.requests.map((r) => r.path)).toEqual([`/v1/vaults/${FINANCE}`]);
  });

  it('accepts a base URL with /v1 and trailing slashes, and vault ids in upper case', async () => {
    const c = new ConnectClient({ url: `${connect.url}/v1/`, token: connect.token });
    expect(await c.getVault(FINANCE.toUpperCase())).toEqual({ id: FINANCE, name: 'Finance' });
    expect(connect.requests.map((r) => r.path)).toEqual([`/v1/vaults/${FINANCE}`]);
  });

  it('401 for a wrong token: `unauthorized`, with Connect\'s message and never the token', async () => {
    const bad = new ConnectClient({ url: connect.url, token: 'wrong-token-s3cr3t' });
    const err = await failure(bad.listItems(FINANCE));
    expect(err.kind).toBe('unauthorized');
    expect(err.status).toBe(401);
    expect(err.message).toContain('Invalid token signature');
    expect(err.message).not.toContain('s3cr3t');
    expect(connect.requests[0]!.status).toBe(401);
  });

  it('403 for a vault outside the token\'s scope, 404 for an unknown vault', async () => {
    const forbidden = await failure(client.listItems(HR));
    expect(forbidden.kind).toBe('forbidden');
    expect(forbidden.message).toContain(`vault ${HR} is not in scope`);
    expect((await failure(client.getVault(HR))).kind).toBe('forbidden');

    const missing = await failure(client.listItems(GHOST));
    expect(missing.kind).toBe('not_found');
    expect(missing.message).toContain(`vault ${GHOST} not found`);
  });

  it('5xx is `server`; a body that is not the spec\'s shape is `bad_response`', async () => {
    connect.fail({ status: 503, count: 1, message: 'sync in progress' });
    const err = await failure(client.listItems(FINANCE));
    expect(err.kind).toBe('server');
    expect(err.status).toBe(503);

    // A proxy in front of Connect answering 200 with an HTML page, or with an object instead of a list.
    for (const body of ['<html>maintenance</html>', '{"status":200}']) {
      const server = createServer((_, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const proxy = new ConnectClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't' });
        expect((await failure(proxy.listItems(FINANCE))).kind).toBe('bad_response');
      } finally {
        await new Promise((r) => server.close(r));
      }
    }
  });

  it('gives up after the timeout: `timeout`, well before the slow answer', async () => {
    connect.setDelay(3_000);
    const quick = new ConnectClient({ url: connect.url, token: connect.token, timeoutMs: 200 });
    const started = Date.now();
    const err = await failure(quick.listItems(FINANCE));
    expect(err.kind).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('a server that is down is `unreachable`', async () => {
    await connect.down();
    try {
      const err = await failure(client.listItems(FINANCE));
      expect(err.kind).toBe('unreachable');
    } finally {
      await connect.up();
    }
  });

  it('refuses ids that are not Connect uuids before sending anything (no path smuggling)', async () => {
    for (const id of [`${FINANCE}/items/${CARD}`, '../vaults', 'org:5f1b9c2e', '9f8e7d6c-5b4a-3210-fedc-ba9876543210', '']) {
      const err = await failure(client.listItems(id));
      expect(err.kind).toBe('invalid_id');
    }
    expect(connect.requests).toEqual([]);
    expect(isConnectId(FINANCE.toUpperCase())).toBe(true);
    expect(isConnectId('org:5f1b9c2e')).toBe(false);
  });

  it('never requests /v1/vaults/{id}/items/{itemId}: the path guard refuses it with no I/O', async () => {
    expect(isAllowedConnectPath(`/v1/vaults/${FINANCE}/items`)).toBe(true);
    expect(isAllowedConnectPath(`/v1/vaults/${FINANCE}`)).toBe(true);
    for (const p of [`/v1/vaults/${FINANCE}/items/${CARD}`, `/v1/vaults/${FINANCE}/items/${CARD}/files`, '/v1/activity', '/v1/vaults']) {
      expect(isAllowedConnectPath(p)).toBe(false);
    }
    const get = (ConnectClient.prototype as unknown as { get: (p: string) => Promise<unknown> }).get;
    await expect(get.call(client, `/v1/vaults/${FINANCE}/items/${CARD}`)).rejects.toThrow(/refusing to request/);
    expect(connect.requests).toEqual([]);
  });

  it('the fake flags a single-item request (so the check after every test can fail) and shows why it matters', async () => {
    const res = await fetch(`${connect.url}/v1/vaults/${FINANCE}/items/${CARD}`, { headers: { authorization: `Bearer ${connect.token}` } });
    const body = (await res.json()) as { fields: { value: string }[] };
    expect(body.fields[0]!.value).toBe('hunter2-secret'); // the single-item call returns secret values
    expect(connect.singleItemRequests().map((r) => r.path)).toEqual([`/v1/vaults/${FINANCE}/items/${CARD}`]);
    expect(SINGLE_ITEM_PATH_RE.test(`/v1/vaults/${FINANCE}/items/${CARD}`)).toBe(true);
    connect.clearRequests(); // this test made the request itself, on purpose
  });
});
