import { describe, expect, it } from 'vitest';
import { DEFAULT_ROOM } from '../limits';
import { memoryStore } from '../testing/memoryStore';
import { loadCurrentRoom, saveRoom } from './rooms';

describe('current room', () => {
  it('remembers the current room across reloads', () => {
    const store = memoryStore();
    expect(loadCurrentRoom(store)).toBe(DEFAULT_ROOM);
    saveRoom(store, 'random');
    saveRoom(store, 'dev');
    expect(loadCurrentRoom(store)).toBe('dev');
  });

  it('ignores a stored name the protocol would refuse', () => {
    expect(loadCurrentRoom(memoryStore({ 'chat.room': 'Not A Room' }))).toBe(DEFAULT_ROOM);
  });
});
