import { describe, expect, it } from 'vitest';
import type { RoomSummary } from '../api/rooms';
import { groupRooms, mayModerate, roomLabel, standingIn, withoutBlocked } from './roomGroups';

const rooms: RoomSummary[] = [
  { room: 'dm-1', lastMessageAt: null, unread: 0, kind: 'direct', role: 'member', with: 'Bob' },
  { room: 'team', lastMessageAt: null, unread: 2, kind: 'private', role: 'owner' },
  { room: 'general', lastMessageAt: null, unread: 0 },
];

describe('groupRooms', () => {
  it('keeps direct messages apart, each group in the order given', () => {
    const groups = groupRooms(rooms);
    expect(groups.rooms.map((r) => r.room)).toEqual(['team', 'general']);
    expect(groups.direct.map((r) => r.room)).toEqual(['dm-1']);
  });
});

describe('roomLabel', () => {
  it('names a DM after the other person and a room after itself', () => {
    expect(roomLabel('dm-1', rooms)).toBe('Bob');
    expect(roomLabel('team', rooms)).toBe('team');
    expect(roomLabel('elsewhere', rooms)).toBe('elsewhere');
  });
});

describe('mayModerate', () => {
  it('lets owners, moderators and admins moderate, never in a DM', () => {
    expect(mayModerate(standingIn('team', rooms), false)).toBe(true);
    expect(mayModerate(standingIn('general', rooms), false)).toBe(false);
    expect(mayModerate(standingIn('general', rooms), true)).toBe(true);
    expect(mayModerate(standingIn('dm-1', rooms), true)).toBe(false);
    expect(mayModerate({ kind: 'public', role: 'moderator' }, false)).toBe(true);
  });
});

describe('withoutBlocked', () => {
  it('hides the messages of blocked users, ignoring case', () => {
    const messages = [{ sender: 'Alice' }, { sender: 'bob' }];
    expect(withoutBlocked(messages, new Set(['alice']))).toEqual([{ sender: 'bob' }]);
    expect(withoutBlocked(messages, new Set())).toBe(messages);
  });
});
