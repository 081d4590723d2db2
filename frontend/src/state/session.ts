// The signed-in session, kept in localStorage so a reload stays signed in.
// A session past its expiry is never returned: the reader logs in again.

export interface Session {
  username: string;
  token: string;
  /** ISO-8601 UTC, as the server sent it. */
  expiresAt: string;
}

/** The part of Storage we use (tests pass a Map-backed fake). */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

const SESSION_KEY = 'chat.session';

/** Milliseconds until the session expires (negative once it has). */
export function msUntilExpiry(session: Session, now: number = Date.now()): number {
  return Date.parse(session.expiresAt) - now;
}

export interface StoredSession {
  /** The stored session if it is well-formed and unexpired. */
  session: Session | null;
  /** A session was stored but has expired (the form says so). */
  expired: boolean;
}

/** The stored session; an expired or malformed one is removed. */
export function loadSession(store: KeyValueStore, now: number = Date.now()): StoredSession {
  const raw = store.getItem(SESSION_KEY);
  if (raw === null) return { session: null, expired: false };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = null;
  }
  const { username, token, expiresAt } = (value ?? {}) as Record<string, unknown>;
  if (
    typeof username !== 'string' ||
    typeof token !== 'string' ||
    typeof expiresAt !== 'string' ||
    Number.isNaN(Date.parse(expiresAt))
  ) {
    store.removeItem(SESSION_KEY);
    return { session: null, expired: false };
  }
  const session = { username, token, expiresAt };
  if (msUntilExpiry(session, now) <= 0) {
    store.removeItem(SESSION_KEY);
    return { session: null, expired: true };
  }
  return { session, expired: false };
}

export function saveSession(store: KeyValueStore, session: Session): void {
  store.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession(store: KeyValueStore): void {
  store.removeItem(SESSION_KEY);
}
