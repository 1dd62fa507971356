/**
 * Shared pieces of the enrichment tests: Connect-shaped ids, the vaults the fake Connect serves, a
 * canonical event builder, and a logger that keeps what it was told.
 */
import type { Redis } from 'ioredis';
import type { UsageEvent } from '../../../src/domain/usage-event.ts';
import { ConnectClient } from '../../../src/enrich/connect-client.ts';
import { ConnectEnricher, type ConnectEnricherOptions } from '../../../src/enrich/connect-enricher.ts';
import type { ConnectHandle, ConnectVaultFixture } from '../../helpers/connect-server.ts';

/** A Connect uuid (26 of [0-9a-z]) that reads as its label: `id26('vfinance')`. */
export function id26(label: string): string {
  const id = label.toLowerCase().padEnd(26, '0');
  if (!/^[\da-z]{26}$/.test(id)) throw new Error(`bad test id ${label}`);
  return id;
}

export const FINANCE = id26('vfinance');
export const IT_ADMIN = id26('vitadmin');
/** Connect may not read it (403 "not in scope"). */
export const HR = id26('vhrprivate');
/** Connect has never heard of it (404). */
export const GHOST = id26('vghost');

export const CARD = id26('icompanycard');
export const BANK = id26('ibankaccount');
export const WALLET = id26('icryptowallet');
export const PORTAL = id26('iadminportal');
export const PAYSLIPS = id26('ipayslips');

export function financeVault(): ConnectVaultFixture {
  return {
    id: FINANCE,
    name: 'Finance',
    items: [
      { id: CARD, title: 'Amex Corporate', category: 'CREDIT_CARD', tags: ['card', 'finance'], urls: [{ href: 'https://americanexpress.com', primary: true }] },
      { id: BANK, title: 'Business bank account', category: 'BANK_ACCOUNT', tags: [] },
      // Not in Connect's 1.7.1 enum: must become `unknown`, never an error.
      { id: WALLET, title: 'Treasury wallet', category: 'HOLOGRAPHIC_WALLET', tags: ['crypto'] },
    ],
  };
}

export function itAdminVault(): ConnectVaultFixture {
  return { id: IT_ADMIN, name: 'IT Admin', items: [{ id: PORTAL, title: 'Admin portal', category: 'LOGIN', tags: ['admin'] }] };
}

export function hrVault(): ConnectVaultFixture {
  return { id: HR, name: 'HR', inScope: false, items: [{ id: PAYSLIPS, title: 'Payslips archive', category: 'DOCUMENT' }] };
}

export function allVaults(): ConnectVaultFixture[] {
  return [financeVault(), itAdminVault(), hrVault()];
}

/** Puts the fake back to its initial state between tests. */
export function resetConnect(connect: ConnectHandle): void {
  connect.clearFaults();
  connect.setDelay(0);
  for (const v of allVaults()) connect.putVault(v);
  connect.clearRequests();
}

let seq = 0;

/** A 1Password-style event as the normaliser leaves it: ids only, no labels. */
export function usage(vault: string, item: string, over: Partial<UsageEvent> = {}): UsageEvent {
  const time = '2026-11-21T02:14:00Z';
  return {
    id: `evt-enrich-${++seq}`,
    source: 'onepassword',
    time,
    time_ms: Date.parse(time),
    received_at: '2026-11-21T02:15:00Z',
    action: 'reveal',
    vendor_action: 'reveal',
    vault: { id: vault },
    item: { id: item },
    user: { id: 'PV2QYFZ5DVH3BDXOJMSC4JDQDE', email: 'jo@example.com', name: 'Jo Bloggs' },
    client: { app: '1Password for Mac', version: '8.10.40', ip: '203.0.113.7' },
    ...over,
  };
}

export interface CapturedLog {
  warnings: { obj: Record<string, unknown>; msg: string }[];
  warn(obj: object, msg: string): void;
  text(): string;
}

export function captureLog(): CapturedLog {
  const warnings: CapturedLog['warnings'] = [];
  return {
    warnings,
    warn(obj, msg) {
      warnings.push({ obj: obj as Record<string, unknown>, msg });
    },
    text: () => JSON.stringify(warnings),
  };
}

let prefixSeq = 0;
/** A key prefix of its own per test, so tests never see each other's cache. */
export function freshPrefix(): string {
  return `{enrich-test-${process.pid}-${++prefixSeq}}`;
}

export interface EnricherSetup extends Partial<Omit<ConnectEnricherOptions, 'client' | 'redis'>> {
  connect: ConnectHandle;
  redis: Redis;
  token?: string;
  timeoutMs?: number;
}

/** A ConnectEnricher over the real client against the fake, with test-sized intervals. */
export function enricher(s: EnricherSetup): ConnectEnricher {
  const { connect, redis, token, timeoutMs, ...rest } = s;
  const client = new ConnectClient({ url: connect.url, token: token ?? connect.token, timeoutMs: timeoutMs ?? 2_000 });
  return new ConnectEnricher({
    client,
    redis,
    prefix: rest.prefix ?? freshPrefix(),
    maxWaitMs: (timeoutMs ?? 2_000) + 500,
    ...rest,
  });
}
