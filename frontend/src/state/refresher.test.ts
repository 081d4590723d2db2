import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuthError, REFRESH_REFUSED } from '../api/auth';
import { REFRESH_WHEN_LEFT_MS, RETRY_AFTER_MS, SessionRefresher } from './refresher';
import type { Session } from './session';

const NOW = Date.UTC(2026, 10, 25, 14, 0, 0);
const HOUR = 3_600_000;

function session(token: string, leftMs: number): Session {
  return { username: 'alice', token, expiresAt: new Date(Date.now() + leftMs).toISOString() };
}

function setup(refresh: (token: string) => Promise<Session>) {
  const refreshed: Session[] = [];
  const failed: string[] = [];
  const asked: string[] = [];
  const refresher = new SessionRefresher({
    refresh: (token) => {
      asked.push(token);
      return refresh(token);
    },
    onRefreshed: (next) => refreshed.push(next),
    onFailed: (reason) => failed.push(reason),
  });
  return { refresher, refreshed, failed, asked };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(NOW);
});
afterEach(() => vi.useRealTimers());

describe('SessionRefresher', () => {
  it('renews when an hour is left, and again before the new token runs low', async () => {
    const { refresher, refreshed, asked } = setup(async () => session('next', 12 * HOUR));
    refresher.start(session('first', 12 * HOUR));
    await vi.advanceTimersByTimeAsync(11 * HOUR - 1);
    expect(asked).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(asked).toEqual(['first']);
    expect(refreshed.map((s) => s.token)).toEqual(['next']);
    await vi.advanceTimersByTimeAsync(12 * HOUR - REFRESH_WHEN_LEFT_MS);
    expect(asked).toEqual(['first', 'next']);
  });

  it('renews at once on load when less than an hour is left', async () => {
    const { refresher, asked } = setup(async () => session('next', 12 * HOUR));
    refresher.start(session('stored', 59 * 60_000));
    await vi.advanceTimersByTimeAsync(0);
    expect(asked).toEqual(['stored']);
  });

  it('sends one request however many ask at once', async () => {
    const { refresher, asked } = setup(async () => session('next', 12 * HOUR));
    refresher.start(session('first', 12 * HOUR));
    const answers = await Promise.all([refresher.refreshNow(), refresher.refreshNow()]);
    expect(asked).toEqual(['first']);
    expect(answers.map((s) => s?.token)).toEqual(['next', 'next']);
  });

  it('goes back to the login form with a sentence when the server refuses', async () => {
    const { refresher, failed } = setup(async () => {
      throw new AuthError(REFRESH_REFUSED, 401);
    });
    refresher.start(session('revoked', 12 * HOUR));
    expect(await refresher.refreshNow()).toBeNull();
    expect(failed).toEqual([REFRESH_REFUSED]);
  });

  it('tries again later while the server cannot be reached and the token still works', async () => {
    let calls = 0;
    const { refresher, refreshed, failed } = setup(async () => {
      calls++;
      if (calls === 1) throw new AuthError('Cannot reach the server to renew your session.');
      return session('next', 12 * HOUR);
    });
    refresher.start(session('first', 30 * 60_000));
    await vi.advanceTimersByTimeAsync(0);
    expect(failed).toEqual([]);
    await vi.advanceTimersByTimeAsync(RETRY_AFTER_MS);
    expect(refreshed.map((s) => s.token)).toEqual(['next']);
  });

  it('does nothing more once stopped', async () => {
    const { refresher, asked } = setup(async () => session('next', 12 * HOUR));
    refresher.start(session('first', 2 * HOUR));
    refresher.stop();
    await vi.advanceTimersByTimeAsync(3 * HOUR);
    expect(asked).toEqual([]);
  });
});
