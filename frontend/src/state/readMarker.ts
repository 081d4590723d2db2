// The read marker: the newest message shown in the open room is read, and the
// server is told with `markRead`, at most once per intervalMs (the read
// allowance is shared with history), never twice for the same message, and
// only while the connection is live. Its one timer is cancelled by stop().
import type { Link } from '../connection/socket';

export const MARK_READ_INTERVAL_MS = 2_000;

export interface ReadMarkerOptions {
  link: Pick<Link, 'send' | 'isOpen'>;
  /** The open room and the id of the newest message shown in it (undefined: none). */
  newest: () => { room: string; id: string | undefined };
  intervalMs?: number;
  now?: () => number;
}

export class ReadMarker {
  /** The newest id this connection marked read, and in which room. */
  private marked: { room: string; id: string } | null = null;
  private lastMarkAt = -Infinity;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly options: ReadMarkerOptions) {}

  /** The open room shows new messages: mark them read now, or when the interval allows. */
  mark(): void {
    if (this.timer !== null || !this.options.link.isOpen) return;
    const wait = this.lastMarkAt + (this.options.intervalMs ?? MARK_READ_INTERVAL_MS) - this.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.mark();
      }, wait);
      return;
    }
    const { room, id } = this.options.newest();
    if (id === undefined) return;
    const marked = this.marked;
    if (marked && marked.room === room && marked.id >= id) return;
    if (this.options.link.send({ action: 'markRead', id })) {
      this.marked = { room, id };
      this.lastMarkAt = this.now();
    }
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }
}
