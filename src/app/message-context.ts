import type { ConfigFile } from '../config/schema.ts';

export const DEFAULT_LISTEN = '127.0.0.1:8787';

/** Links in messages start with http.public_url, by default http://<http.listen>. */
export function publicUrl(cfg: ConfigFile): string {
  return (cfg.http?.public_url ?? `http://${cfg.http?.listen ?? DEFAULT_LISTEN}`).replace(/\/+$/, '');
}

/** Message-IDs carry the sender's domain so mail systems treat them as ours. */
export function messageIdDomain(cfg: ConfigFile): string {
  const from = cfg.channels?.email?.from ?? '';
  const m = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from);
  return m?.[1] ?? 'vaultwatch.invalid';
}

export function messageContext(cfg: ConfigFile): { messageIdDomain: string; publicUrl: string } {
  return { messageIdDomain: messageIdDomain(cfg), publicUrl: publicUrl(cfg) };
}
