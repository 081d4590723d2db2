import { describe, expect, it } from 'vitest';
import { REFRESH_REFUSED } from '../api/auth';
import { HttpError } from '../api/httpError';
import { memoryStore } from '../testing/memoryStore';
import { LOCK_NAME, LOGGED_OUT_ELSEWHERE, type Locks, renewSession } from './renewal';
import { type Session, loadSession, saveSession } from './session';

const API = 'http://127.0.0.1:8000/api';
const LATER = new Date(Date.now() + 30 * 24 * 3600_000).toISOString();

function pair(n: number, username = 'alice'): Session {
  return {
    username,
    token: `access-${n}`,
    expiresAt: new Date(Date.now() + 900_000).toISOString(),
    refreshToken: `refresh-${n}`,
    refreshExpiresAt: LATER,
    deviceToken: 'd',
  };
}

/** A server whose refresh tokens work once each, as PROTOCOL.md says. */
function server() {
  let issued = 1;
  const spent = new Set<string>();
  const presented: string[] = [];
  const refresh = async (_api: string, token: string): Promise<Session> => {
    presented.push(token);
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (spent.has(token)) throw new HttpError(REFRESH_REFUSED, 401);
    spent.add(token);
    return pair(++issued);
  };
  return { refresh, presented };
}

/** The Web Locks API's exclusive mode, in one process. */
function locks(): Locks & { names: string[] } {
  let tail: Promise<unknown> = Promise.resolve();
  const names: string[] = [];
  return {
    names,
    request<T>(name: string, callback: () => Promise<T>): Promise<T> {
      names.push(name);
      const run = tail.then(callback, callback);
      tail = run.catch(() => undefined);
      return run;
    },
  };
}

describe('renewSession', () => {
  it('spends the stored refresh token and stores the new one, not the access token', async () => {
    const store = memoryStore();
    saveSession(store, pair(1));
    const { refresh, presented } = server();
    const next = await renewSession({ apiUrl: API, store, username: 'alice', refresh, locks: null });
    expect(presented).toEqual(['refresh-1']);
    expect(loadSession(store).stored?.refreshToken).toBe(next.refreshToken);
    expect([...store.data.values()].join()).not.toContain(next.token);
  });

  it('lets two tabs renew at once without spending one token twice', async () => {
    const store = memoryStore();
    saveSession(store, pair(1));
    const { refresh, presented } = server();
    const shared = locks();
    const tabs = [1, 2].map(() => renewSession({ apiUrl: API, store, username: 'alice', refresh, locks: shared }));
    const [a, b] = await Promise.all(tabs);
    expect(presented).toEqual(['refresh-1', 'refresh-2']);
    expect(a!.token).not.toBe(b!.token);
    expect(shared.names).toEqual([LOCK_NAME, LOCK_NAME]);
  });

  it('fails with 401 when another tab logged out (nothing stored)', async () => {
    const { refresh, presented } = server();
    const renewal = renewSession({ apiUrl: API, store: memoryStore(), username: 'alice', refresh, locks: null });
    await expect(renewal).rejects.toThrow(LOGGED_OUT_ELSEWHERE);
    expect(presented).toEqual([]);
  });

  it('forgets a refresh token the server refused', async () => {
    const store = memoryStore();
    saveSession(store, pair(1));
    const refuse = async (): Promise<Session> => {
      throw new HttpError(REFRESH_REFUSED, 401);
    };
    await expect(renewSession({ apiUrl: API, store, username: 'alice', refresh: refuse, locks: null })).rejects.toThrow(
      REFRESH_REFUSED,
    );
    expect(loadSession(store).stored).toBeNull();
  });

  it('keeps the refresh token when the server could not be reached', async () => {
    const store = memoryStore();
    saveSession(store, pair(1));
    const down = async (): Promise<Session> => {
      throw new HttpError('Cannot reach the server to renew your session.');
    };
    await expect(renewSession({ apiUrl: API, store, username: 'alice', refresh: down, locks: null })).rejects.toThrow();
    expect(loadSession(store).stored?.refreshToken).toBe('refresh-1');
  });
});
