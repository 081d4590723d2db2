// Renewing the session with its one-time refresh token, once across all tabs.
//
// Every tab of the site shares one refresh token (localStorage). Two tabs
// spending the same one would look like a stolen token to the server, which
// then ends the session: so each renewal runs under a Web Lock held by one tab
// at a time, and reads the newest refresh token from storage inside it (another
// tab may have rotated it a moment ago). Each tab gets its own access token.
import { refreshSession } from '../api/auth';
import { HttpError } from '../api/httpError';
import { type KeyValueStore, type Session, clearSession, loadSession, saveSession } from './session';

export const LOGGED_OUT_ELSEWHERE = 'You were logged out in another tab or window. Please log in again.';
export const LOCK_NAME = 'chat.refresh';

/** The part of the Web Locks API used here (tests pass their own). */
export interface Locks {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

export interface RenewOptions {
  apiUrl: string;
  store: KeyValueStore;
  /** Whose session: a stored refresh token of another user is not ours to spend. */
  username: string;
  refresh?: typeof refreshSession;
  /** null: no locking (a browser without Web Locks). Default: navigator.locks when present. */
  locks?: Locks | null;
  now?: () => number;
}

function browserLocks(): Locks | null {
  const nav = typeof navigator === 'undefined' ? undefined : (navigator as Navigator & { locks?: Locks });
  return nav?.locks ?? null;
}

/** A new pair for the stored refresh token; HttpError (status 401) when the session is over. */
export function renewSession(options: RenewOptions): Promise<Session> {
  const refresh = options.refresh ?? refreshSession;
  const run = async (): Promise<Session> => {
    const { stored } = loadSession(options.store, options.now?.() ?? Date.now());
    if (!stored || stored.username.toLowerCase() !== options.username.toLowerCase()) {
      throw new HttpError(LOGGED_OUT_ELSEWHERE, 401);
    }
    try {
      const next = await refresh(options.apiUrl, stored.refreshToken);
      saveSession(options.store, next);
      return next;
    } catch (error) {
      // Refused (spent, ended, expired): nobody can use it any more.
      if (error instanceof HttpError && error.status === 401) clearSession(options.store);
      throw error;
    }
  };
  const locks = options.locks === undefined ? browserLocks() : options.locks;
  return locks ? locks.request(LOCK_NAME, run) : run();
}
