// The room the reader is in, remembered across reloads (the list of their rooms
// comes from the server: roomList.ts).
import { DEFAULT_ROOM, roomProblem } from '../limits';
import type { KeyValueStore } from './session';

const CURRENT_KEY = 'chat.room';

export function loadCurrentRoom(store: KeyValueStore): string {
  const room = store.getItem(CURRENT_KEY);
  return room !== null && roomProblem(room) === null ? room : DEFAULT_ROOM;
}

/** Record `room` as the current one. */
export function saveRoom(store: KeyValueStore, room: string): void {
  store.setItem(CURRENT_KEY, room);
}
