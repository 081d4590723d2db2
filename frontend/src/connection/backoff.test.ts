import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff';

const policy = { baseMs: 100, maxMs: 5_000 };

describe('backoffDelay', () => {
  it('doubles the ceiling with each attempt', () => {
    const ceilings = [0, 1, 2, 3, 4].map((attempt) => backoffDelay(attempt, policy, () => 1));
    expect(ceilings).toEqual([100, 200, 400, 800, 1600]);
  });

  it('never goes below half the ceiling, so delays keep growing', () => {
    const floors = [0, 1, 2, 3].map((attempt) => backoffDelay(attempt, policy, () => 0));
    expect(floors).toEqual([50, 100, 200, 400]);
  });

  it('is capped at maxMs however many attempts failed', () => {
    expect(backoffDelay(50, policy, () => 1)).toBe(5_000);
    expect(backoffDelay(10_000, policy, () => 0)).toBe(2_500);
  });

  it('spreads clients apart: different random draws, different delays', () => {
    const delays = new Set([0, 0.25, 0.5, 0.75].map((r) => backoffDelay(3, policy, () => r)));
    expect(delays.size).toBe(4);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
  });

  it('refuses a negative or fractional attempt', () => {
    expect(() => backoffDelay(-1, policy)).toThrow(RangeError);
    expect(() => backoffDelay(1.5, policy)).toThrow(RangeError);
  });
});
