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

/** A stored, well-formed, unexpired session, or null. */
export function loadSession(store: KeyValueStore, now: number = Date.now()): Session | null {
  let value: unknown;
  try {
    value = JSON.parse(store.getItem(SESSION_KEY) ?? 'null');
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { username, token, expiresAt } = value as Record<string, unknown>;
  if (typeof username !== 'string' || typeof token !== 'string' || typeof expiresAt !== 'string') {
    return null;
  }
  const session = { username, token, expiresAt };
  if (Number.isNaN(Date.parse(expiresAt)) || msUntilExpiry(session, now) <= 0) {
    store.removeItem(SESSION_KEY);
    return null;
  }
  return session;
}

export function saveSession(store: KeyValueStore, session: Session): void {
  store.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession(store: KeyValueStore): void {
  store.removeItem(SESSION_KEY);
}
