// The room the reader is in and the rooms they used lately, remembered across
// reloads so switching back is one click.
import { DEFAULT_ROOM, roomProblem } from '../limits';
import type { KeyValueStore } from './session';

const CURRENT_KEY = 'chat.room';
const RECENT_KEY = 'chat.recentRooms';
export const RECENT_ROOMS_MAX = 6;

/** `recent` with `room` moved to the front, at most RECENT_ROOMS_MAX long. */
export function rememberRoom(recent: readonly string[], room: string): string[] {
  return [room, ...recent.filter((r) => r !== room)].slice(0, RECENT_ROOMS_MAX);
}

export function loadCurrentRoom(store: KeyValueStore): string {
  const room = store.getItem(CURRENT_KEY);
  return room !== null && roomProblem(room) === null ? room : DEFAULT_ROOM;
}

export function loadRecentRooms(store: KeyValueStore): string[] {
  try {
    const value: unknown = JSON.parse(store.getItem(RECENT_KEY) ?? '[]');
    if (!Array.isArray(value)) return [];
    return value
      .filter((r): r is string => typeof r === 'string' && roomProblem(r) === null)
      .slice(0, RECENT_ROOMS_MAX);
  } catch {
    return [];
  }
}

/** Record `room` as current and most recent; returns the new recent list. */
export function saveRoom(store: KeyValueStore, room: string): string[] {
  const recent = rememberRoom(loadRecentRooms(store), room);
  store.setItem(CURRENT_KEY, room);
  store.setItem(RECENT_KEY, JSON.stringify(recent));
  return recent;
}
