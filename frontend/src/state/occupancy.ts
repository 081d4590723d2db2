// How many users are online in the open room. A small room's count is its
// members list (kept live by `presence`); a room of more than 200 users online
// gets no presence, only `occupancy` frames with the count, and a `members`
// answer lists at most 100 names while its `count` says how many there are.
import type { Members } from './presence';

/** A count the server gave for a room, beyond what the members list can show. */
export interface Occupancy {
  room: string;
  count: number;
}

/** After an `occupancy` frame: its count, for its room. */
export function occupancyFrom(room: string, count: number): Occupancy {
  return { room, count: Math.max(0, Math.floor(count)) };
}

/** After a `members` answer: its count when the list could not hold everyone, else none. */
export function occupancyOfMembers(room: string, names: readonly string[], count: number): Occupancy | null {
  return count > names.length ? occupancyFrom(room, count) : null;
}

/** After a `presence` frame: the room is small again, the members list counts. */
export function afterPresence(occupancy: Occupancy | null, room: string): Occupancy | null {
  return occupancy !== null && occupancy.room === room ? null : occupancy;
}

/** The number to show beside the members list. */
export function onlineCount(members: Members, occupancy: Occupancy | null): number {
  return occupancy !== null && occupancy.room === members.room ? occupancy.count : members.names.length;
}
