import { describe, expect, it } from 'vitest';
import { afterPresence, occupancyFrom, occupancyOfMembers, onlineCount } from './occupancy';
import { membersFrom } from './presence';

describe('onlineCount', () => {
  const small = membersFrom('lobby', ['alice', 'bob']);

  it('counts the members list of a small room', () => {
    expect(onlineCount(small, null)).toBe(2);
  });

  it("shows a big room's occupancy count instead", () => {
    expect(onlineCount(membersFrom('arena', []), occupancyFrom('arena', 250))).toBe(250);
  });

  it("ignores another room's count", () => {
    expect(onlineCount(small, occupancyFrom('arena', 250))).toBe(2);
  });

  it('keeps the count of a members answer that could not list everyone', () => {
    const names = Array.from({ length: 100 }, (_, n) => `user${n}`);
    const occupancy = occupancyOfMembers('arena', names, 240);
    expect(onlineCount(membersFrom('arena', names), occupancy)).toBe(240);
    expect(occupancyOfMembers('lobby', ['alice', 'bob'], 2)).toBeNull();
  });

  it('goes back to the list once presence says the room is small', () => {
    const occupancy = afterPresence(occupancyFrom('lobby', 201), 'lobby');
    expect(onlineCount(small, occupancy)).toBe(2);
    expect(afterPresence(occupancyFrom('arena', 201), 'lobby')).toEqual({ room: 'arena', count: 201 });
  });
});
