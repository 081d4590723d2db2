import { describe, expect, it } from 'vitest';
import { memoryStore } from '../testing/memoryStore';
import { clearSession, loadSession, saveSession } from './session';

const NOW = Date.UTC(2026, 10, 25, 14, 0, 0);
const session = { username: 'Alice', token: 'h.p.s', expiresAt: new Date(NOW + 60_000).toISOString() };

describe('session storage', () => {
  it('keeps a session across reloads until it expires', () => {
    const store = memoryStore();
    saveSession(store, session);
    expect(loadSession(store, NOW)).toEqual({ session, expired: false });
  });

  it('drops an expired session and says it expired', () => {
    const store = memoryStore();
    saveSession(store, session);
    expect(loadSession(store, NOW + 60_000)).toEqual({ session: null, expired: true });
    expect(store.data.size).toBe(0);
  });

  it('treats a missing session as no session, not as expired', () => {
    expect(loadSession(memoryStore(), NOW)).toEqual({ session: null, expired: false });
  });

  it('drops malformed data instead of trusting it', () => {
    for (const raw of ['not json', '42', '{"username":"a","token":"t"}', '{"username":"a","token":"t","expiresAt":"soon"}']) {
      const store = memoryStore({ 'chat.session': raw });
      expect(loadSession(store, NOW)).toEqual({ session: null, expired: false });
      expect(store.data.size).toBe(0);
    }
  });

  it('forgets the session on log out', () => {
    const store = memoryStore();
    saveSession(store, session);
    clearSession(store);
    expect(loadSession(store, NOW).session).toBeNull();
  });
});
