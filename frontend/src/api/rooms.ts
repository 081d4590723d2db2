// GET {apiUrl}/rooms: the reader's rooms with unread counts (PROTOCOL.md).
import { HttpError } from './httpError';

export interface RoomSummary {
  room: string;
  /** The newest message's sentAt, or null for a room without messages. */
  lastMessageAt: string | null;
  /** Messages newer than the reader's marker, up to UNREAD_MAX (which means "or more"). */
  unread: number;
  /** v3: public, private or direct (absent: public). */
  kind?: 'public' | 'private' | 'direct';
  /** v3: the reader's role in it. */
  role?: 'owner' | 'moderator' | 'member';
  /** v3, direct rooms: the other user. */
  with?: string;
}

function parseSummary(value: unknown): RoomSummary | null {
  if (typeof value !== 'object' || value === null) return null;
  const { room, lastMessageAt, unread, kind, role, with: other } = value as Record<string, unknown>;
  if (typeof room !== 'string' || typeof unread !== 'number') return null;
  if (lastMessageAt !== null && typeof lastMessageAt !== 'string') return null;
  const summary: RoomSummary = { room, lastMessageAt, unread };
  if (kind === 'public' || kind === 'private' || kind === 'direct') summary.kind = kind;
  if (role === 'owner' || role === 'moderator' || role === 'member') summary.role = role;
  if (typeof other === 'string') summary.with = other;
  return summary;
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
  if (!response.ok) throw HttpError.from(response, `GET /rooms answered ${response.status}`);
  const body = (await response.json()) as { rooms?: unknown };
  if (!Array.isArray(body.rooms)) throw new HttpError('GET /rooms answered without rooms', response.status);
  return body.rooms.map(parseSummary).filter((r): r is RoomSummary => r !== null);
}
