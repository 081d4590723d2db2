import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Session } from './session';
import { REFUSALS_BEFORE_LOGOUT, SESSION_EXPIRED, SESSION_REFUSED, SessionWatch, type SessionWatchOptions } from './sessionWatch';

const NOW = Date.UTC(2026, 10, 25, 14, 0, 0);
const HOUR = 3_600_000;
const session = (token: string, hours = 12): Session => ({
  username: 'alice',
  token,
  expiresAt: new Date(NOW + hours * HOUR).toISOString(),
});

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(NOW);
});
afterEach(() => vi.useRealTimers());

/** Let the promises under way (a refresh, a /health answer) settle. */
async function settle() {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function setup(overrides: Partial<SessionWatchOptions> = {}) {
  const log: string[] = [];
  let live = false;
  let inDefaultRoom = true;
  const watch: SessionWatch = new SessionWatch({
    session: session('t1'),
    close: () => {
      log.push('close');
      watch.stop();
    },
    onSessionEnded: (reason) => log.push(`ended: ${reason}`),
    reconnect: () => log.push('reconnect'),
    isLive: () => live,
    leaveRefusingRoom: () => {
      if (inDefaultRoom) return false;
      log.push('leave room');
      inDefaultRoom = true;
      return true;
    },
    checkServerUp: () => Promise.resolve(true),
    ...overrides,
  });
  return {
    watch,
    log,
    goLive: () => (live = true),
    elsewhere: () => (inDefaultRoom = false),
  };
}

describe('SessionWatch: expiry', () => {
  it('does not start with an expired session', () => {
    const { watch, log } = setup({ session: session('old', -1) });
    expect(watch.start()).toBe(false);
    expect(log).toEqual(['close', `ended: ${SESSION_EXPIRED}`]);
  });

  it('ends the session when it expires, and a renewed one moves the end', () => {
    const { watch, log } = setup();
    expect(watch.start()).toBe(true);
    vi.advanceTimersByTime(11 * HOUR);
    watch.setSession(session('t2', 24));
    vi.advanceTimersByTime(2 * HOUR);
    expect(log).toEqual([]);
    expect(watch.session.token).toBe('t2');
    vi.advanceTimersByTime(11 * HOUR);
    expect(log).toEqual(['close', `ended: ${SESSION_EXPIRED}`]);
  });

  it('says nothing after stop()', () => {
    const { watch, log } = setup();
    watch.start();
    watch.stop();
    vi.advanceTimersByTime(48 * HOUR);
    expect(log).toEqual([]);
    expect(watch.isEnded).toBe(true);
  });
});

describe('SessionWatch: a refused token', () => {
  it('ends the session without a way to renew it', () => {
    const { watch, log } = setup();
    watch.start();
    watch.unauthorized();
    expect(log).toEqual(['close', `ended: ${SESSION_REFUSED}`]);
  });

  it('renews once however often it is refused, then reconnects with the new token', async () => {
    const refresh = vi.fn(() => Promise.resolve<Session | null>(session('t2')));
    const { watch, log } = setup({ refresh });
    watch.start();
    watch.unauthorized();
    watch.unauthorized();
    await settle();
    expect(refresh).toHaveBeenCalledTimes(1);
    expect(watch.session.token).toBe('t2');
    expect(log).toEqual(['reconnect']);
  });

  it('closes without a word of its own when the renewal fails (the refresher has told the reader)', async () => {
    const { watch, log } = setup({ refresh: () => Promise.resolve(null) });
    watch.start();
    watch.unauthorized();
    await settle();
    expect(log).toEqual(['close']);
  });
});

describe('SessionWatch: handshakes that keep failing', () => {
  it('asks nothing before the third failure, and nothing more while the server is down', async () => {
    const checkServerUp = vi.fn(() => Promise.resolve(false));
    const { watch, log } = setup({ checkServerUp });
    watch.start();
    watch.handshakeFailed(REFUSALS_BEFORE_LOGOUT - 1);
    expect(checkServerUp).not.toHaveBeenCalled();
    watch.handshakeFailed(REFUSALS_BEFORE_LOGOUT);
    await settle();
    expect(checkServerUp).toHaveBeenCalledTimes(1);
    expect(log).toEqual([]);
  });

  it('leaves a room that refuses us before suspecting the token', async () => {
    const { watch, log, elsewhere } = setup();
    watch.start();
    elsewhere();
    watch.handshakeFailed(REFUSALS_BEFORE_LOGOUT);
    await settle();
    expect(log).toEqual(['leave room', 'reconnect']);
  });

  it('tries once more at once, then ends the session on a second refusal', async () => {
    const { watch, log } = setup();
    watch.start();
    watch.handshakeFailed(REFUSALS_BEFORE_LOGOUT);
    await settle();
    expect(log).toEqual(['reconnect']);
    watch.handshakeFailed(REFUSALS_BEFORE_LOGOUT + 1);
    await settle();
    expect(log).toEqual(['reconnect', 'close', `ended: ${SESSION_REFUSED}`]);
  });

  it('forgets the suspicion once a handshake goes through, and ignores a late answer once live', async () => {
    const { watch, log, goLive } = setup();
    watch.start();
    watch.handshakeFailed(REFUSALS_BEFORE_LOGOUT);
    await settle();
    watch.opened();
    watch.handshakeFailed(REFUSALS_BEFORE_LOGOUT);
    await settle();
    expect(log).toEqual(['reconnect', 'reconnect']);
    goLive();
    watch.handshakeFailed(REFUSALS_BEFORE_LOGOUT);
    await settle();
    expect(log).toEqual(['reconnect', 'reconnect']);
  });

  it('ends an expired session at the next failed handshake', () => {
    const { watch, log } = setup({ session: session('t1', 1) });
    watch.start();
    vi.setSystemTime(NOW + 2 * HOUR);
    watch.handshakeFailed(1);
    expect(log).toEqual(['close', `ended: ${SESSION_EXPIRED}`]);
  });
});
