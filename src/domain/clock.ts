/** Time is injected: business-hours logic and windows take the event time and a clock, never Date.now(). */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export function fixedClock(ms: number): Clock & { set(ms: number): void; advance(ms: number): void } {
  let t = ms;
  return {
    now: () => t,
    set: (v: number) => { t = v; },
    advance: (d: number) => { t += d; },
  };
}
