import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeLink } from '../testing/fakeLink';
import { makeMessage } from '../testing/fakeSocket';
import { RoomPeople } from './people';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function setup() {
  return new RoomPeople('general', { link: new FakeLink(), onChange: () => {} });
}

describe('RoomPeople', () => {
  it('keeps the members list live with presence, and starts empty in another room', () => {
    const people = setup();
    people.onFrame({ type: 'members', room: 'general', members: ['bob', 'alice'], count: 2 }, 'alice');
    people.onFrame({ type: 'presence', room: 'general', username: 'carol', status: 'online' }, 'alice');
    people.onFrame({ type: 'presence', room: 'general', username: 'bob', status: 'offline' }, 'alice');
    expect(people.members.names).toEqual(['alice', 'carol']);
    people.enter('random');
    expect(people.members).toEqual({ room: 'random', names: [] });
    expect(people.occupancy).toBeNull();
  });

  it('shows who types, except the reader, until their message', () => {
    const people = setup();
    people.onFrame({ type: 'typing', room: 'general', username: 'bob' }, 'alice');
    people.onFrame({ type: 'typing', room: 'general', username: 'Alice' }, 'alice');
    expect(people.typing.line).toBe('bob is typing…');
    people.onFrame({ type: 'message', message: makeMessage(1, { sender: 'bob' }) }, 'alice');
    expect(people.typing.line).toBe('');
  });

  it('keeps a big room\'s count from occupancy frames', () => {
    const people = setup();
    people.onFrame({ type: 'occupancy', room: 'general', count: 1234 }, 'alice');
    expect(people.occupancy).toMatchObject({ room: 'general', count: 1234 });
  });
});
