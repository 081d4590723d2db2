// The rooms list beside the chat: the reader's rooms from GET /rooms, refreshed
// on demand (focus, reconnect) and at least every ROOMS_REFRESH_MS, one call at
// a time. The open room is live, so it never shows unread; it is listed even
// before the server knows of it.
import { type RoomSummary, fetchRooms } from '../api/rooms';
import { ROOMS_REFRESH_MS } from '../limits';

export interface RoomListOptions {
  apiUrl: string;
  token: () => string;
  fetchRooms?: typeof fetchRooms;
  refreshMs?: number;
}

/** The list as shown: the open room is read, and always present. */
export function shownRooms(rooms: readonly RoomSummary[], open: string): RoomSummary[] {
  const shown = rooms.map((r) => (r.room === open && r.unread ? { ...r, unread: 0 } : r));
  if (!shown.some((r) => r.room === open)) shown.push({ room: open, lastMessageAt: null, unread: 0 });
  return shown;
}

export class RoomList {
  private readonly options: RoomListOptions;
  private readonly listeners = new Set<() => void>();
  private rooms: readonly RoomSummary[] = [];
  private open = '';
  private snapshot: readonly RoomSummary[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private inflight: Promise<void> | null = null;
  private again = false;

  constructor(options: RoomListOptions) {
    this.options = options;
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): readonly RoomSummary[] => this.snapshot;

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs ?? ROOMS_REFRESH_MS);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** The reader opened this room. */
  viewing(room: string): void {
    this.open = room;
    this.emit();
  }

  /** Ask the server again (one call at a time; a request during a call runs after it). */
  refresh(): Promise<void> {
    if (this.inflight) {
      this.again = true;
      return this.inflight;
    }
    const load = this.options.fetchRooms ?? fetchRooms;
    this.inflight = load(this.options.apiUrl, this.options.token())
      .then((rooms) => {
        this.rooms = rooms;
        this.emit();
      })
      .catch(() => {
        // Keep what is shown; the next refresh tries again.
      })
      .finally(() => {
        this.inflight = null;
        if (this.again) {
          this.again = false;
          void this.refresh();
        }
      });
    return this.inflight;
  }

  private emit(): void {
    this.snapshot = shownRooms(this.rooms, this.open);
    for (const listener of this.listeners) listener();
  }
}
