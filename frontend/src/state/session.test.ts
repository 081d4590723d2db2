import { describe, expect, it } from 'vitest';
import { memoryStore } from '../testing/memoryStore';
import {
  type Session,
  clearSession,
  deviceTokenFor,
  loadSession,
  msUntilAccessExpiry,
  msUntilExpiry,
  saveSession,
} from './session';

const NOW = Date.UTC(2026, 10, 25, 14, 0, 0);
const session: Session = {
  username: 'Alice',
  token: 'h.p.s',
  expiresAt: new Date(NOW + 15 * 60_000).toISOString(),
  refreshToken: 'one-time',
  refreshExpiresAt: new Date(NOW + 60_000 * 60 * 24 * 30).toISOString(),
  deviceToken: 'd1.k.n.m',
};
const stored = { username: 'Alice', refreshToken: 'one-time', refreshExpiresAt: session.refreshExpiresAt };

describe('session storage', () => {
  it('keeps the refresh part across reloads, never the access token', () => {
    const store = memoryStore();
    saveSession(store, session);
    expect(loadSession(store, NOW)).toEqual({ stored, expired: false });
    expect([...store.data.values()].join()).not.toContain('h.p.s');
  });

  it('drops a session past its absolute end and says it expired', () => {
    const store = memoryStore();
    saveSession(store, session);
    expect(loadSession(store, Date.parse(session.refreshExpiresAt!))).toEqual({ stored: null, expired: true });
    expect(store.data.has('chat.session')).toBe(false);
  });

  it('treats a missing session as no session, not as expired', () => {
    expect(loadSession(memoryStore(), NOW)).toEqual({ stored: null, expired: false });
  });

  it('drops malformed data (and sessions stored by the old site, with an access token) instead of trusting it', () => {
    const old = JSON.stringify({ username: 'a', token: 't', expiresAt: '2026-11-26T02:00:00Z' });
    for (const raw of ['not json', '42', old, '{"username":"a","refreshToken":"r","refreshExpiresAt":"soon"}']) {
      const store = memoryStore({ 'chat.session': raw });
      expect(loadSession(store, NOW)).toEqual({ stored: null, expired: false });
      expect(store.data.size).toBe(0);
    }
  });

  it('forgets the session on log out but keeps the device token for the next login', () => {
    const store = memoryStore();
    saveSession(store, session);
    clearSession(store);
    expect(loadSession(store, NOW).stored).toBeNull();
    expect(deviceTokenFor(store, 'alice')).toBe('d1.k.n.m');
    expect(deviceTokenFor(store, 'bob')).toBeUndefined();
  });

  it('tells the access token expiry from the session end', () => {
    expect(msUntilAccessExpiry(session, NOW)).toBe(15 * 60_000);
    expect(msUntilExpiry(session, NOW)).toBe(30 * 24 * 60 * 60_000);
  });
});
