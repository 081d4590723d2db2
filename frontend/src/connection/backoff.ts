// Reconnect delays: exponential growth with a cap, and jitter so that a
// thousand clients dropped by the same outage do not return in lock-step.

export interface BackoffPolicy {
  /** Delay ceiling of the first retry, in ms. */
  baseMs: number;
  /** Largest delay ceiling, in ms. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 30_000 };

/**
 * The delay before retry number `attempt` (0 for the first): "equal jitter",
 * uniformly between half and all of min(maxMs, baseMs * 2^attempt). The lower
 * half keeps the delay growing; the random half spreads clients apart.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError(`attempt must be a non-negative integer, got ${attempt}`);
  }
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
