/** MemoryRuleState (replay and `vaultwatch test`) against naive models of rule-state.ts's contract. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryRuleState } from '../../../src/pipeline/memory-rule-state.ts';

describe('firstTime', () => {
  it('true for the first event of a combination, and for that same event again; false for any other', () => {
    const s = new MemoryRuleState();
    expect(s.firstTime('r', 'alice\u0000item', 'e1')).toBe(true);
    expect(s.firstTime('r', 'alice\u0000item', 'e2')).toBe(false);
    expect(s.firstTime('r', 'alice\u0000item', 'e1')).toBe(true);
    expect(s.firstTime('r', 'bob\u0000item', 'e2')).toBe(true);
    expect(s.firstTime('other-rule', 'alice\u0000item', 'e3')).toBe(true);
  });
});

describe('threshold', () => {
  it('counts events in (t - window, t], this one included, idempotent per event id', () => {
    const s = new MemoryRuleState();
    expect(s.threshold('r', 'k', 'a', 1000, 100)).toBe(1);
    expect(s.threshold('r', 'k', 'b', 1050, 100)).toBe(2);
    expect(s.threshold('r', 'k', 'b', 1050, 100)).toBe(2);
    expect(s.threshold('r', 'k', 'c', 1100, 100)).toBe(2); // a (1000) is exactly a window before
    expect(s.threshold('r', 'other', 'd', 1100, 100)).toBe(1);
  });

  it('a late event counts the earlier events of its own window, not later ones (property)', () => {
    const W = 1000;
    fc.assert(fc.property(
      fc.array(fc.record({ dt: fc.integer({ min: 0, max: 700 }), late: fc.integer({ min: 0, max: W }), key: fc.constantFrom('a', 'b') }), { maxLength: 60 }),
      (steps) => {
        const s = new MemoryRuleState();
        const seen: { key: string; t: number }[] = [];
        let clock = 0;
        let maxSeen = 0;
        steps.forEach((step, i) => {
          clock += step.dt;
          // Events arrive roughly in time order: at most one window behind the newest seen so far.
          const t = Math.max(clock - step.late, maxSeen - W);
          maxSeen = Math.max(maxSeen, t);
          seen.push({ key: step.key, t });
          const want = seen.filter((x) => x.key === step.key && x.t > t - W && x.t <= t).length;
          expect(s.threshold('r', step.key, `e${i}`, t, W)).toBe(want);
        });
      },
    ));
  });
});

describe('dedup', () => {
  it('opens [t, t + window) with the first alert; suppresses inside; re-opens at the end', () => {
    const s = new MemoryRuleState();
    expect(s.dedup('r', 'k', 'a1', 0, 100)).toEqual({ suppressed: false, first: 'a1', count: 1 });
    expect(s.dedup('r', 'k', 'a2', 50, 100)).toEqual({ suppressed: true, first: 'a1', count: 2 });
    expect(s.dedup('r', 'k', 'a3', 99, 100)).toEqual({ suppressed: true, first: 'a1', count: 3 });
    expect(s.dedup('r', 'k', 'a4', 100, 100)).toEqual({ suppressed: false, first: 'a4', count: 1 });
    expect(s.dedup('r', 'k', 'a5', 150, 100)).toEqual({ suppressed: true, first: 'a4', count: 2 });
    // Idempotent per alert id while its window is open.
    expect(s.dedup('r', 'k', 'a4', 100, 100)).toEqual({ suppressed: false, first: 'a4', count: 2 });
    expect(s.dedup('r', 'k', 'a5', 150, 100)).toEqual({ suppressed: true, first: 'a4', count: 2 });
    expect(s.dedup('r', 'other', 'b1', 150, 100)).toEqual({ suppressed: false, first: 'b1', count: 1 });
  });

  it('matches a model for alerts in time order (property)', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ dt: fc.integer({ min: 0, max: 80 }), key: fc.constantFrom('x', 'y') }), { maxLength: 60 }),
      fc.integer({ min: 1, max: 200 }),
      (steps, W) => {
        const s = new MemoryRuleState();
        const open = new Map<string, { start: number; first: string; count: number }>();
        let t = 0;
        steps.forEach((step, i) => {
          t += step.dt;
          const id = `a${i}`;
          const w = open.get(step.key);
          let want;
          if (w && t < w.start + W) {
            w.count++;
            want = { suppressed: true, first: w.first, count: w.count };
          } else {
            open.set(step.key, { start: t, first: id, count: 1 });
            want = { suppressed: false, first: id, count: 1 };
          }
          expect(s.dedup('r', step.key, id, t, W)).toEqual(want);
        });
      },
    ));
  });
});
