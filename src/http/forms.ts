/**
 * What the HTML form routes share (justification and alert pages): an urlencoded body parser scoped to
 * one plugin (raw bytes kept, so the Slack route can verify its signature over them), cookies, the
 * same-origin check and the headers every page is sent with.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PAGE_CSP } from '../accountability/pages.ts';

export const FORM_TYPE = 'application/x-www-form-urlencoded';
/** A justification or a Slack payload is a few kilobytes; refuse anything much larger. */
export const FORM_BODY_LIMIT = 64 * 1024;

/**
 * Registers `routes` in their own encapsulated scope that reads urlencoded bodies as raw Buffers (no
 * @fastify/formbody needed: URLSearchParams parses them, and a signature needs the exact bytes).
 */
export function formScope(app: FastifyInstance, routes: (scope: FastifyInstance) => void): void {
  void app.register(async (scope) => {
    scope.addContentTypeParser(FORM_TYPE, { parseAs: 'buffer', bodyLimit: FORM_BODY_LIMIT }, (_req, body, done) => done(null, body));
    routes(scope);
  });
}

export function formOf(req: FastifyRequest): URLSearchParams {
  return new URLSearchParams(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '');
}

export function cookies(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!(name in out)) out[name] = part.slice(eq + 1).trim();
  }
  return out;
}

/**
 * A cross-site form post carries a foreign Origin (or Referer). Accepted: the public URL's origin and
 * this request's own host (http or https). Checked only when the browser sends one; the anti-CSRF
 * field is checked always. `Origin: null` is refused.
 */
export function sameOrigin(req: FastifyRequest, publicUrl: string): boolean {
  const allowed = new Set<string>();
  try {
    allowed.add(new URL(publicUrl).origin);
  } catch {
    // an unparsable public_url contributes nothing
  }
  const host = req.headers.host;
  if (host) {
    allowed.add(`http://${host}`);
    allowed.add(`https://${host}`);
  }
  const origin = one(req.headers.origin);
  if (origin !== undefined) return allowed.has(origin);
  const referer = one(req.headers.referer);
  if (referer !== undefined) {
    try {
      return allowed.has(new URL(referer).origin);
    } catch {
      return false;
    }
  }
  return true;
}

function one(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

/** An HTML page with the headers every page gets: strict CSP, no framing, no caching, no sniffing. */
export function sendPage(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply
    .code(status)
    .header('Content-Type', 'text/html; charset=utf-8')
    .header('Content-Security-Policy', PAGE_CSP)
    .header('X-Frame-Options', 'DENY')
    .header('X-Content-Type-Options', 'nosniff')
    .header('Referrer-Policy', 'same-origin')
    .header('Cache-Control', 'no-store')
    .send(html);
}

/** `vw_csrf=<nonce>` for a day, HttpOnly, SameSite=Strict, Secure behind https. */
export function csrfCookie(name: string, nonce: string, secure: boolean): string {
  return `${name}=${nonce}; Path=/; Max-Age=86400; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}
