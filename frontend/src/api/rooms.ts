// GET {apiUrl}/rooms: the reader's rooms with unread counts (PROTOCOL.md).
import { HttpError } from './httpError';

export interface RoomSummary {
  room: string;
  /** The newest message's sentAt, or null for a room without messages. */
  lastMessageAt: string | null;
  /** Messages newer than the reader's marker, up to UNREAD_MAX (which means "or more"). */
  unread: number;
}

function parseSummary(value: unknown): RoomSummary | null {
  if (typeof value !== 'object' || value === null) return null;
  const { room, lastMessageAt, unread } = value as Record<string, unknown>;
  if (typeof room !== 'string' || typeof unread !== 'number') return null;
  if (lastMessageAt !== null && typeof lastMessageAt !== 'string') return null;
  return { room, lastMessageAt, unread };
}

/** The reader's rooms, most recently active first; throws when the call fails. */
export async function fetchRooms(
  apiUrl: string,
  token: string,
  fetchImpl: typeof fetch = fetch,
): Promise<RoomSummary[]> {
  const response = await fetchImpl(`${apiUrl}/rooms`, {
    headers: { Authorization: `Bearer ${token}` },
    cache: 'no-store',
  });
  if (!response.ok) throw HttpError.from(response, 'GET /rooms');
  const body = (await response.json()) as { rooms?: unknown };
  if (!Array.isArray(body.rooms)) throw new Error('GET /rooms answered without rooms');
  return body.rooms.map(parseSummary).filter((r): r is RoomSummary => r !== null);
}
