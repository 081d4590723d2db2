// The rooms list beside the chat: the reader's rooms from GET /rooms, refreshed
// on demand (focus, reconnect) and every ROOMS_REFRESH_MS while the page is
// visible (a hidden tab asks nothing: the REST stage's throttle is shared by
// everyone, docs/SECURITY.md), one call at a time. A 429 or 5xx doubles the wait
// (at least the Retry-After asked for, at most MAX_BACKOFF_MS) until a call
// succeeds. The open room is live, so it never shows unread; it is listed even
// before the server knows of it.
import { HttpError } from '../api/httpError';
import { type RoomSummary, fetchRooms } from '../api/rooms';
import { Snapshots } from './snapshots';
import { ROOMS_REFRESH_MS } from '../limits';

/** The longest a throttled rooms list waits before asking again. */
export const MAX_BACKOFF_MS = 10 * 60 * 1000;

export interface RoomListOptions {
  apiUrl: string;
  token: () => string;
  fetchRooms?: typeof fetchRooms;
  refreshMs?: number;
  /** Whether the reader can see the page (default: document.visibilityState). */
  visible?: () => boolean;
}

function pageVisible(): boolean {
  return typeof document === 'undefined' || document.visibilityState === 'visible';
}

/** The list as shown: the open room is read, and always present. */
export function shownRooms(rooms: readonly RoomSummary[], open: string): RoomSummary[] {
  const shown = rooms.map((r) => (r.room === open && r.unread ? { ...r, unread: 0 } : r));
  if (!shown.some((r) => r.room === open)) shown.push({ room: open, lastMessageAt: null, unread: 0 });
  return shown;
}

export class RoomList {
  private readonly options: RoomListOptions;
  private rooms: readonly RoomSummary[] = [];
  private open = '';
  private readonly view = new Snapshots<readonly RoomSummary[]>(() => shownRooms(this.rooms, this.open), []);
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running = false;
  /** The wait before the next scheduled call: refreshMs, or more after a throttled answer. */
  private waitMs = 0;
  /** No call before this (epoch ms): the Retry-After of the last 429. */
  private notBefore = 0;
  private inflight: Promise<void> | null = null;
  private again = false;

  constructor(options: RoomListOptions) {
    this.options = options;
  }

  subscribe = this.view.subscribe;
  getSnapshot = this.view.get;

  start(): void {
    this.running = true;
    this.waitMs = this.refreshMs();
    void this.refresh();
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private refreshMs(): number {
    return this.options.refreshMs ?? ROOMS_REFRESH_MS;
  }

  private schedule(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.running) return;
      // Hidden: skip this turn (focus and visibilitychange ask again at once).
      if ((this.options.visible ?? pageVisible)()) void this.refresh();
      this.schedule();
    }, this.waitMs);
  }

  private throttled(error: unknown): void {
    const status = error instanceof HttpError ? (error.status ?? 0) : 0;
    if (status !== 429 && status < 500) return;
    const asked = error instanceof HttpError ? (error.retryAfterMs ?? 0) : 0;
    this.notBefore = Date.now() + asked;
    this.waitMs = Math.min(Math.max(this.waitMs * 2, asked), MAX_BACKOFF_MS);
    if (this.running) this.schedule();
  }

  /** The reader opened this room. */
  viewing(room: string): void {
    this.open = room;
    this.view.emit();
  }

  /** Ask the server again (one call at a time; a request during a call runs after it). */
  refresh(): Promise<void> {
    if (Date.now() < this.notBefore) return Promise.resolve(); // the server asked us to wait
    if (this.inflight) {
      this.again = true;
      return this.inflight;
    }
    const load = this.options.fetchRooms ?? fetchRooms;
    this.inflight = load(this.options.apiUrl, this.options.token())
      .then((rooms) => {
        this.rooms = rooms;
        if (this.waitMs !== this.refreshMs()) {
          this.waitMs = this.refreshMs(); // recovered: the usual pace from now on
          if (this.running) this.schedule();
        }
        this.view.emit();
      })
      .catch((error: unknown) => {
        // Keep what is shown; the next refresh tries again, later when throttled.
        this.throttled(error);
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
}
