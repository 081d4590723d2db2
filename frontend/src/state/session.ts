// The signed-in session (PROTOCOL.md v3, Sessions).
//
// The access token (`token`, 15 minutes) lives in memory only: it is never
// written to storage, so a script that reads storage later finds no working
// access token. The refresh token is kept in localStorage, so that a reload or
// a second tab stays signed in without the password; it is one-time and
// rotated on every use, and a stolen copy that gets used ends the whole
// session (the server sees a spent token come back). docs/SECURITY.md says
// why it is there and not in a cookie or in memory. The device token is kept
// per username, also across log-outs: it is what lets its owner past a lockout.

export interface Session {
  username: string;
  /** The access token (a JWT): memory only. */
  token: string;
  /** The access token's expiry, ISO-8601 UTC as the server sent it. */
  expiresAt: string;
  /** One-time: spent by the next refresh. */
  refreshToken?: string;
  /** The session's absolute end (30 days after its login). */
  refreshExpiresAt?: string;
  deviceToken?: string;
}

/** What survives a reload: the refresh part only, never the access token. */
export interface StoredRefresh {
  username: string;
  refreshToken: string;
  refreshExpiresAt: string;
}

/** The part of Storage we use (tests pass a Map-backed fake). */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export const SESSION_KEY = 'chat.session';
const DEVICE_KEY = 'chat.devices';

/** Milliseconds until the session itself ends (its refresh token's expiry; negative once it has). */
export function msUntilExpiry(session: Session, now: number = Date.now()): number {
  return Date.parse(session.refreshExpiresAt ?? session.expiresAt) - now;
}

/** Milliseconds until the access token expires (renewed before then). */
export function msUntilAccessExpiry(session: Session, now: number = Date.now()): number {
  return Date.parse(session.expiresAt) - now;
}

export interface StoredSession {
  /** The stored refresh part if it is well-formed and unexpired. */
  stored: StoredRefresh | null;
  /** A session was stored but has ended (the form says so). */
  expired: boolean;
}

/** The stored refresh part; an expired or malformed one is removed. */
export function loadSession(store: KeyValueStore, now: number = Date.now()): StoredSession {
  const raw = store.getItem(SESSION_KEY);
  if (raw === null) return { stored: null, expired: false };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = null;
  }
  const { username, refreshToken, refreshExpiresAt } = (value ?? {}) as Record<string, unknown>;
  if (
    typeof username !== 'string' ||
    typeof refreshToken !== 'string' ||
    typeof refreshExpiresAt !== 'string' ||
    Number.isNaN(Date.parse(refreshExpiresAt))
  ) {
    store.removeItem(SESSION_KEY);
    return { stored: null, expired: false };
  }
  if (Date.parse(refreshExpiresAt) - now <= 0) {
    store.removeItem(SESSION_KEY);
    return { stored: null, expired: true };
  }
  return { stored: { username, refreshToken, refreshExpiresAt }, expired: false };
}

/** Keep a new session's refresh part (and its device token); the access token stays in memory. */
export function saveSession(store: KeyValueStore, session: Session): void {
  if (session.refreshToken && session.refreshExpiresAt) {
    const stored: StoredRefresh = {
      username: session.username,
      refreshToken: session.refreshToken,
      refreshExpiresAt: session.refreshExpiresAt,
    };
    store.setItem(SESSION_KEY, JSON.stringify(stored));
  }
  if (session.deviceToken) saveDeviceToken(store, session.username, session.deviceToken);
}

export function clearSession(store: KeyValueStore): void {
  store.removeItem(SESSION_KEY);
}

function devices(store: KeyValueStore): Record<string, string> {
  try {
    const value: unknown = JSON.parse(store.getItem(DEVICE_KEY) ?? '{}');
    return typeof value === 'object' && value !== null ? (value as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/** The device token this browser got at an earlier login of this username, if any. */
export function deviceTokenFor(store: KeyValueStore, username: string): string | undefined {
  const token = devices(store)[username.toLowerCase()];
  return typeof token === 'string' ? token : undefined;
}

export function saveDeviceToken(store: KeyValueStore, username: string, token: string): void {
  store.setItem(DEVICE_KEY, JSON.stringify({ ...devices(store), [username.toLowerCase()]: token }));
}
