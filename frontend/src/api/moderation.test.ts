import { describe, expect, it } from 'vitest';
import { HttpError } from './httpError';
import { ModerationApi } from './moderation';

const API = 'http://127.0.0.1:8000/api';

function server(status: number, body: unknown, seen: Request[] = []): typeof fetch {
  return async (input, init) => {
    seen.push(new Request(input as string, init));
    const text = body === null ? '' : JSON.stringify(body);
    return new Response(status === 204 ? null : text, { status });
  };
}

describe('ModerationApi', () => {
  it('creates a room with a Bearer token and a JSON body', async () => {
    const seen: Request[] = [];
    const api = new ModerationApi(API, () => 'tok', server(201, { room: 'team', kind: 'private', role: 'owner' }, seen));
    await api.createRoom('team', 'private');
    expect(seen[0]!.url).toBe(`${API}/rooms`);
    expect(seen[0]!.method).toBe('POST');
    expect(seen[0]!.headers.get('Authorization')).toBe('Bearer tok');
    expect(await seen[0]!.json()).toEqual({ room: 'team', kind: 'private' });
  });

  it('puts and deletes members with the names escaped in the path', async () => {
    const seen: Request[] = [];
    const api = new ModerationApi(API, () => 't', server(204, null, seen));
    await api.invite('team', 'bob.smith');
    await api.remove('team', 'bob.smith');
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      `PUT ${API}/rooms/team/members/bob.smith`,
      `DELETE ${API}/rooms/team/members/bob.smith`,
    ]);
  });

  it('explains a refusal in words and keeps the status', async () => {
    const api = new ModerationApi(API, () => 't', server(409, { Code: 'ConflictError', Message: 'exists' }));
    const failure = api.createRoom('team', 'public');
    await expect(failure).rejects.toBeInstanceOf(HttpError);
    await expect(failure).rejects.toMatchObject({ status: 409, message: /Choose another name/ });
    const forbidden = new ModerationApi(API, () => 't', server(403, { Code: 'ForbiddenError', Message: 'no' }));
    await expect(forbidden.openDirect('bob')).rejects.toMatchObject({ status: 403, message: 'Not allowed: no.' });
  });

  it('opens a direct room and returns its name', async () => {
    const api = new ModerationApi(API, () => 't', server(200, { room: 'dm-abc', kind: 'direct', with: 'bob' }));
    await expect(api.openDirect('bob')).resolves.toBe('dm-abc');
  });

  it('reads the directory, dropping malformed entries', async () => {
    const seen: Request[] = [];
    const rooms = [{ room: 'dev', online: 2 }, { room: 7 }, { room: 'ops', online: 0 }];
    const api = new ModerationApi(API, () => 't', server(200, { rooms }, seen));
    await expect(api.directory('d e')).resolves.toEqual([{ room: 'dev', online: 2 }, { room: 'ops', online: 0 }]);
    expect(seen[0]!.url).toBe(`${API}/directory?prefix=d%20e`);
  });

  it('says null for the reports list of a non-admin', async () => {
    const api = new ModerationApi(API, () => 't', server(403, { Code: 'ForbiddenError', Message: 'admins' }));
    await expect(api.reports()).resolves.toBeNull();
  });

  it('says the server is unreachable when fetch fails', async () => {
    const api = new ModerationApi(API, () => 't', async () => {
      throw new TypeError('network');
    });
    await expect(api.blocked()).rejects.toMatchObject({ message: /Cannot reach the server/ });
  });
});
