/**
 * The organization's member directory (`GET /public/members`), so that events name people, not GUIDs.
 *
 * Bitwarden events carry only the acting user's id (`actingUserId`), which is the member's `userId`
 * (not the member `id`). The directory is cached: refreshed when older than `refreshMs`, and once
 * when a page names a user it does not know (a member who just joined), at most every
 * `missCooldownMs`; a user still unknown after that refresh is not looked up again until the next
 * regular refresh. A failing lookup never holds up events: they go out with the ids, the old
 * directory (if any) stays in use, and the next attempt waits `failureCooldownMs`.
 */
import type { SourceLog } from '../source.ts';
import { errorMessage } from '../source-health.ts';
import type { BitwardenClient, RequestOptions } from './client.ts';

export interface Member {
  email?: string;
  name?: string;
}

export interface MemberDirectoryOptions {
  /** Regular refresh. Default 5 min. */
  refreshMs?: number;
  /** Least time between two refreshes caused by unknown users. Default 5 s. */
  missCooldownMs?: number;
  /** Wait after a failed lookup. Default 60 s. */
  failureCooldownMs?: number;
  /** Per request: a slow directory must not stall the events. Default 10 s. */
  timeoutMs?: number;
  now: () => number;
  log?: () => SourceLog | undefined;
  sourceName?: string;
}

/** More pages than any organization has: a server that keeps answering with tokens is not followed forever. */
const MAX_PAGES = 1_000;

export class MemberDirectory {
  private byUserId = new Map<string, Member>();
  private loadedAt: number | undefined;
  private lastAttemptAt: number | undefined;
  private lastFailed = false;
  /** Users looked for in vain since the last refresh. */
  private missed = new Set<string>();
  private readonly refreshMs: number;
  private readonly missCooldownMs: number;
  private readonly failureCooldownMs: number;

  constructor(private readonly client: BitwardenClient, private readonly opts: MemberDirectoryOptions) {
    this.refreshMs = opts.refreshMs ?? 300_000;
    this.missCooldownMs = opts.missCooldownMs ?? 5_000;
    this.failureCooldownMs = opts.failureCooldownMs ?? 60_000;
  }

  /** Members known (tests, logs). */
  get size(): number {
    return this.byUserId.size;
  }

  /** The member whose userId this is (synchronous: the normaliser calls it per record). */
  lookup(userId: string): Member | undefined {
    return this.byUserId.get(userId.toLowerCase());
  }

  /**
   * Makes the directory fresh enough for these acting users: refreshes when stale, or when one of
   * them is unknown (once). Never throws.
   */
  async ensure(userIds: Iterable<string>, req: RequestOptions = {}): Promise<void> {
    const now = this.opts.now();
    if (this.lastFailed && this.lastAttemptAt !== undefined && now - this.lastAttemptAt < this.failureCooldownMs) return;
    const stale = this.loadedAt === undefined || now - this.loadedAt >= this.refreshMs;
    let unknown = false;
    if (!stale) {
      for (const id of userIds) {
        const key = id.toLowerCase();
        if (!this.byUserId.has(key) && !this.missed.has(key)) {
          unknown = true;
          break;
        }
      }
      if (!unknown) return;
      if (this.lastAttemptAt !== undefined && now - this.lastAttemptAt < this.missCooldownMs) return;
    }
    await this.refresh(req);
    if (!this.lastFailed) {
      for (const id of userIds) {
        const key = id.toLowerCase();
        if (!this.byUserId.has(key)) this.missed.add(key);
      }
    }
  }

  /** Reads the whole directory. Never throws: a failure keeps the old directory and is logged once. */
  async refresh(req: RequestOptions = {}): Promise<boolean> {
    this.lastAttemptAt = this.opts.now();
    try {
      const next = new Map<string, Member>();
      let token: string | undefined;
      let pages = 0;
      do {
        // One attempt, no waiting for a spent quota: the events matter more than the names.
        const page = await this.client.members(token, {
          ...req, attempts: 1, deadlineMs: this.opts.now(), timeoutMs: req.timeoutMs ?? this.opts.timeoutMs ?? 10_000,
        });
        for (const m of page.data) addMember(next, m);
        token = typeof page.continuationToken === 'string' && page.continuationToken !== '' ? page.continuationToken : undefined;
        pages += 1;
      } while (token !== undefined && pages < MAX_PAGES);
      this.byUserId = next;
      this.loadedAt = this.opts.now();
      this.missed = new Set();
      if (this.lastFailed) this.opts.log?.()?.info({ source: this.opts.sourceName, members: next.size }, 'bitwarden: member directory readable again');
      this.lastFailed = false;
      return true;
    } catch (err) {
      if (!this.lastFailed) {
        this.opts.log?.()?.warn({ source: this.opts.sourceName, err: errorMessage(err), members_cached: this.byUserId.size },
          'bitwarden: cannot read the member directory (GET /public/members); events go out with user ids until it works');
      }
      this.lastFailed = true;
      return false;
    }
  }
}

function addMember(into: Map<string, Member>, m: unknown): void {
  if (typeof m !== 'object' || m === null) return;
  const r = m as Record<string, unknown>;
  const userId = r['userId'];
  // Invited members have no user yet: nothing can name them in an event.
  if (typeof userId !== 'string' || userId === '') return;
  const member: Member = {};
  if (typeof r['email'] === 'string' && r['email'] !== '') member.email = r['email'];
  if (typeof r['name'] === 'string' && r['name'] !== '') member.name = r['name'];
  into.set(userId.toLowerCase(), member);
}
