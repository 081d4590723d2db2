import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { REFRESH_REFUSED } from '../api/auth';
import { HttpError } from '../api/httpError';
import { REFRESH_WHEN_LEFT_MS, RETRY_AFTER_MS, SessionRefresher } from './refresher';
import type { Session } from './session';

const NOW = Date.UTC(2026, 10, 25, 14, 0, 0);
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

function session(token: string, leftMs: number, sessionLeftMs = 30 * DAY): Session {
  return {
    username: 'alice',
    token,
    expiresAt: new Date(Date.now() + leftMs).toISOString(),
    refreshToken: `r-${token}`,
    refreshExpiresAt: new Date(NOW + sessionLeftMs).toISOString(),
    deviceToken: 'd',
  };
}

function setup(refresh: () => Promise<Session>) {
  const refreshed: Session[] = [];
  const failed: string[] = [];
  let asked = 0;
  const refresher = new SessionRefresher({
    refresh: () => {
      asked++;
      return refresh();
    },
    onRefreshed: (next) => refreshed.push(next),
    onFailed: (reason) => failed.push(reason),
  });
  return { refresher, refreshed, failed, asked: () => asked };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(NOW);
});
afterEach(() => vi.useRealTimers());

describe('SessionRefresher', () => {
  it('renews the 15-minute access token two minutes before it expires, and again after', async () => {
    const { refresher, refreshed, asked } = setup(async () => session('next', 15 * MINUTE));
    refresher.start(session('first', 15 * MINUTE));
    await vi.advanceTimersByTimeAsync(13 * MINUTE - 1);
    expect(asked()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(asked()).toBe(1);
    expect(refreshed.map((s) => s.token)).toEqual(['next']);
    await vi.advanceTimersByTimeAsync(15 * MINUTE - REFRESH_WHEN_LEFT_MS);
    expect(asked()).toBe(2);
  });

  it('renews at once when less than two minutes are left', async () => {
    const { refresher, asked } = setup(async () => session('next', 15 * MINUTE));
    refresher.start(session('stored', MINUTE));
    await vi.advanceTimersByTimeAsync(0);
    expect(asked()).toBe(1);
  });

  it('sends one request however many ask at once', async () => {
    const { refresher, asked } = setup(async () => session('next', 15 * MINUTE));
    refresher.start(session('first', 15 * MINUTE));
    const answers = await Promise.all([refresher.refreshNow(), refresher.refreshNow()]);
    expect(asked()).toBe(1);
    expect(answers.map((s) => s?.token)).toEqual(['next', 'next']);
  });

  it('goes back to the login form with a sentence when the server refuses', async () => {
    const { refresher, failed } = setup(async () => {
      throw new HttpError(REFRESH_REFUSED, 401);
    });
    refresher.start(session('revoked', 15 * MINUTE));
    expect(await refresher.refreshNow()).toBeNull();
    expect(failed).toEqual([REFRESH_REFUSED]);
  });

  it.each([undefined, 429, 503])(
    'tries again later when the answer is %s, even past the access token, while the session lasts',
    async (status) => {
      let calls = 0;
      const { refresher, refreshed, failed } = setup(async () => {
        calls++;
        if (calls <= 2) throw new HttpError('Cannot renew now.', status);
        return session('next', 15 * MINUTE);
      });
      const first = session('first', 30_000);
      refresher.start(first);
      expect(await refresher.refreshNow()).toBe(first); // not null: the chat keeps going
      await vi.advanceTimersByTimeAsync(RETRY_AFTER_MS); // the access token has expired by now
      expect(failed).toEqual([]);
      await vi.advanceTimersByTimeAsync(RETRY_AFTER_MS);
      expect(refreshed.map((s) => s.token)).toEqual(['next']);
    },
  );

  it('does nothing more once stopped', async () => {
    const { refresher, asked } = setup(async () => session('next', 15 * MINUTE));
    refresher.start(session('first', 15 * MINUTE));
    refresher.stop();
    await vi.advanceTimersByTimeAsync(60 * MINUTE);
    expect(asked()).toBe(0);
  });
});
