import { describe, expect, it } from 'vitest';
import { DEFAULT_ROOM } from '../limits';
import { memoryStore } from '../testing/memoryStore';
import { RECENT_ROOMS_MAX, loadCurrentRoom, loadRecentRooms, rememberRoom, saveRoom } from './rooms';

describe('recent rooms', () => {
  it('puts the latest room first without repeating it', () => {
    expect(rememberRoom(['a', 'b', 'c'], 'b')).toEqual(['b', 'a', 'c']);
  });

  it(`keeps at most ${RECENT_ROOMS_MAX}`, () => {
    let recent: string[] = [];
    for (let i = 0; i < RECENT_ROOMS_MAX + 3; i++) recent = rememberRoom(recent, `room-${i}`);
    expect(recent).toHaveLength(RECENT_ROOMS_MAX);
    expect(recent[0]).toBe(`room-${RECENT_ROOMS_MAX + 2}`);
  });

  it('remembers the current room across reloads', () => {
    const store = memoryStore();
    expect(loadCurrentRoom(store)).toBe(DEFAULT_ROOM);
    saveRoom(store, 'random');
    saveRoom(store, 'dev');
    expect(loadCurrentRoom(store)).toBe('dev');
    expect(loadRecentRooms(store)).toEqual(['dev', 'random']);
  });

  it('ignores stored names the protocol would refuse', () => {
    const store = memoryStore({ 'chat.room': 'Not A Room', 'chat.recentRooms': '["ok", "BAD!", 3]' });
    expect(loadCurrentRoom(store)).toBe(DEFAULT_ROOM);
    expect(loadRecentRooms(store)).toEqual(['ok']);
  });
});
