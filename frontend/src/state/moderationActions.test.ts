import { describe, expect, it } from 'vitest';
import { HttpError } from '../api/httpError';
import { type ModerationHost, moderationActions } from './moderationActions';

function host(api: Partial<ModerationHost['api']>) {
  const seen = { entered: [] as string[], status: [] as (string | null)[], refreshed: 0, blocked: new Set<string>() as ReadonlySet<string> };
  const actions = moderationActions({
    api: api as ModerationHost['api'],
    enter: (room) => seen.entered.push(room),
    refreshRooms: () => seen.refreshed++,
    status: (line) => seen.status.push(line),
    blocked: (change) => {
      seen.blocked = change(seen.blocked);
    },
  });
  return { actions, seen };
}

const refuse = (status: number, words: string) => async () => {
  throw new HttpError(words, status);
};

describe('moderationActions', () => {
  it('opens a room it created, and says why not otherwise', async () => {
    const ok = host({ createRoom: async () => ({}) });
    await expect(ok.actions.create('team', 'private')).resolves.toBeNull();
    expect(ok.seen.entered).toEqual(['team']);
    const taken = host({ createRoom: refuse(409, 'A room with that name exists.') });
    await expect(taken.actions.create('team', 'public')).resolves.toBe('A room with that name exists.');
    expect(taken.seen.entered).toEqual([]);
  });

  it('goes to general after leaving a room, and to random after leaving general', async () => {
    const { actions, seen } = host({ remove: async () => ({}) });
    await actions.leave('team', 'alice');
    await actions.leave('general', 'alice');
    expect(seen.entered).toEqual(['general', 'random']);
  });

  it('opens the direct room of a member, or says why not', async () => {
    const ok = host({ openDirect: async () => 'dm-abc' });
    await ok.actions.message('bob');
    expect(ok.seen.entered).toEqual(['dm-abc']);
    const blocked = host({ openDirect: refuse(403, 'Not allowed: you cannot message this user.') });
    await blocked.actions.message('bob');
    expect(blocked.seen.status).toEqual(['Not allowed: you cannot message this user.']);
  });

  it('keeps the blocked names in lower case and unblocks', async () => {
    const { actions, seen } = host({ block: async () => ({}) });
    await actions.block('Bob', true);
    expect([...seen.blocked]).toEqual(['bob']);
    await actions.block('Bob', false);
    expect([...seen.blocked]).toEqual([]);
  });

  it('refreshes the rooms list after an invitation', async () => {
    const { actions, seen } = host({ invite: async () => ({}) });
    await expect(actions.invite('team')('bob')).resolves.toBeNull();
    expect(seen.refreshed).toBe(1);
  });
});
