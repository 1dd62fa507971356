import type { DedupVerdict, RuleState } from './rule-state.ts';

interface Window { start: number; first: string; count: number; members: Set<string> }

/** RuleState in process memory, for replay and `vaultwatch test`: the state lives for one run. */
export class MemoryRuleState implements RuleState {
  private readonly seen = new Map<string, string>();
  private readonly series = new Map<string, Map<string, number>>();
  private readonly windows = new Map<string, Window>();

  firstTime(ruleId: string, combo: string, eventId: string): boolean {
    const k = `${ruleId}\u0000${combo}`;
    const by = this.seen.get(k);
    if (by === undefined) { this.seen.set(k, eventId); return true; }
    return by === eventId;
  }

  threshold(ruleId: string, key: string, eventId: string, timeMs: number, windowMs: number): number {
    const k = `${ruleId}\u0000${key}`;
    let s = this.series.get(k);
    if (!s) { s = new Map(); this.series.set(k, s); }
    s.set(eventId, timeMs);
    let n = 0;
    for (const [id, t] of s) {
      if (t > timeMs - windowMs && t <= timeMs) n++;
      // Replay moves forward in event time; entries a whole window behind can never count again.
      else if (t <= timeMs - 2 * windowMs) s.delete(id);
    }
    return n;
  }

  dedup(ruleId: string, key: string, alertId: string, timeMs: number, windowMs: number): DedupVerdict {
    const k = `${ruleId}\u0000${key}`;
    const w = this.windows.get(k);
    if (w && w.members.has(alertId)) return { suppressed: w.first !== alertId, first: w.first, count: w.count };
    if (w && timeMs < w.start + windowMs && timeMs > w.start - windowMs) {
      w.count++;
      w.members.add(alertId);
      return { suppressed: true, first: w.first, count: w.count };
    }
    this.windows.set(k, { start: timeMs, first: alertId, count: 1, members: new Set([alertId]) });
    return { suppressed: false, first: alertId, count: 1 };
  }
}
