// What the navigation and the moderation controls need from GET /rooms: rooms
// and direct messages apart, a DM named after the other person, who may
// moderate the open room, and whose messages are hidden (blocks).
import type { RoomSummary } from '../api/rooms';
import type { ChatMessage } from '../protocol';

export interface RoomGroups {
  rooms: RoomSummary[];
  direct: RoomSummary[];
}

/** Rooms and direct messages, each in the order given (most recently active first). */
export function groupRooms(rooms: readonly RoomSummary[]): RoomGroups {
  return {
    rooms: rooms.filter((r) => r.kind !== 'direct'),
    direct: rooms.filter((r) => r.kind === 'direct'),
  };
}

/** How a room is named to the reader: a DM by the other person, a room by its name. */
export function roomLabel(room: string, rooms: readonly RoomSummary[]): string {
  const found = rooms.find((r) => r.room === room);
  return found?.kind === 'direct' && found.with ? found.with : room;
}

/** The reader's standing in the open room, from the rooms list. */
export function standingIn(room: string, rooms: readonly RoomSummary[]): Pick<RoomSummary, 'kind' | 'role'> {
  const found = rooms.find((r) => r.room === room);
  return { kind: found?.kind ?? 'public', role: found?.role ?? 'member' };
}

/** Owners, moderators and admins moderate public and private rooms, never a DM. */
export function mayModerate(standing: Pick<RoomSummary, 'kind' | 'role'>, admin: boolean): boolean {
  if (standing.kind === 'direct') return false;
  return admin || standing.role === 'owner' || standing.role === 'moderator';
}

/** Messages of blocked users are hidden everywhere (names compared ignoring case). */
export function withoutBlocked<T extends Pick<ChatMessage, 'sender'>>(messages: readonly T[], blocked: ReadonlySet<string>): T[] {
  if (blocked.size === 0) return messages as T[];
  return messages.filter((m) => !blocked.has(m.sender.toLowerCase()));
}
