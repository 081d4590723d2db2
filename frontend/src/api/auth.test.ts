import { describe, expect, it } from 'vitest';
import { REFRESH_REFUSED, authenticate, endSession, refreshSession } from './auth';

const API = 'http://127.0.0.1:8000/api';
const SESSION = {
  username: 'alice',
  token: 'fresh',
  expiresAt: '2026-11-26T02:00:00Z',
  refreshToken: 'next-one-time',
  refreshExpiresAt: '2026-12-25T02:00:00Z',
  deviceToken: 'd1.k.n.m',
};

function server(status: number, body: unknown, seen: Request[] = []): typeof fetch {
  return async (input, init) => {
    seen.push(new Request(input as string, init));
    return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  };
}

describe('authenticate', () => {
  it('posts the credentials as JSON and returns the session', async () => {
    const seen: Request[] = [];
    const ok = { ...SESSION, username: 'Alice' };
    await expect(authenticate(API, 'signup', 'Alice', 'password1', undefined, server(201, ok, seen))).resolves.toEqual(ok);
    expect(seen[0]!.url).toBe(`${API}/signup`);
    expect(seen[0]!.method).toBe('POST');
    expect(await seen[0]!.json()).toEqual({ username: 'Alice', password: 'password1' });
  });

  it('sends the device token with a login (never with a signup)', async () => {
    const seen: Request[] = [];
    await authenticate(API, 'login', 'alice', 'password1', 'd1.k.n.m', server(200, SESSION, seen));
    await authenticate(API, 'signup', 'alice', 'password1', 'd1.k.n.m', server(201, SESSION, seen));
    expect(await seen[0]!.json()).toEqual({ username: 'alice', password: 'password1', deviceToken: 'd1.k.n.m' });
    expect(await seen[1]!.json()).toEqual({ username: 'alice', password: 'password1' });
  });

  it('refuses an answer without the refresh and device tokens', async () => {
    const old = { username: 'alice', token: 't', expiresAt: '2026-11-26T02:00:00Z' };
    await expect(authenticate(API, 'login', 'alice', 'password1', undefined, server(200, old))).rejects.toThrow(/unexpected/);
  });

  it.each([
    [409, 'ConflictError', /taken/],
    [401, 'UnauthorizedError', /Wrong username or password/],
    [429, 'TooManyRequestsError', /Too many failed attempts/],
    [400, 'BadRequestError', /did not accept that: password must be 8-256 characters/],
    [500, 'InternalServerError', /answered 500/],
  ])('explains HTTP %i in words', async (status, code, words) => {
    const body = { Code: code, Message: 'password must be 8-256 characters' };
    await expect(authenticate(API, 'login', 'alice', 'password1', undefined, server(status, body))).rejects.toThrow(words);
  });

  it('says when the server cannot be reached', async () => {
    const down: typeof fetch = async () => {
      throw new TypeError('Failed to fetch');
    };
    await expect(authenticate(API, 'login', 'alice', 'password1', undefined, down)).rejects.toThrow(/Cannot reach the server/);
  });
});

describe('refreshSession and endSession', () => {
  it('sends the refresh token in the body, no Bearer header, and returns the new pair', async () => {
    const seen: Request[] = [];
    await expect(refreshSession(API, 'one-time', server(200, SESSION, seen))).resolves.toEqual(SESSION);
    expect(seen[0]!.url).toBe(`${API}/refresh`);
    expect(seen[0]!.headers.get('Authorization')).toBeNull();
    expect(await seen[0]!.json()).toEqual({ refreshToken: 'one-time' });
  });

  it('says in words that a refused session must log in again', async () => {
    const refused = { Code: 'UnauthorizedError', Message: 'token was revoked' };
    await expect(refreshSession(API, 'old', server(401, refused))).rejects.toThrow(REFRESH_REFUSED);
  });

  it('logs out with the token and reports whether the server heard it', async () => {
    const seen: Request[] = [];
    const noContent: typeof fetch = async (input, init) => {
      seen.push(new Request(input as string, init));
      return new Response(null, { status: 204 });
    };
    await expect(endSession(API, 'tok', noContent)).resolves.toBe(true);
    expect(seen[0]!.url).toBe(`${API}/logout`);
    expect(seen[0]!.headers.get('Authorization')).toBe('Bearer tok');
    const down: typeof fetch = async () => {
      throw new TypeError('Failed to fetch');
    };
    await expect(endSession(API, 'tok', down)).resolves.toBe(false);
  });

  it('logs out everywhere when asked', async () => {
    const seen: Request[] = [];
    const noContent: typeof fetch = async (input, init) => {
      seen.push(new Request(input as string, init));
      return new Response(null, { status: 204 });
    };
    await endSession(API, 'tok', noContent, true);
    expect(await seen[0]!.json()).toEqual({ everywhere: true });
  });
});
