// Keeps the open room's timeline whole on this connection. On every open or
// join it asks for the newest page of a room not loaded yet (./history), or for
// the changes since the last revision applied (./revisions), page by page while
// `hasMore`; the room counts as caught up (onSynced: sends go out) when they are
// in. Live changes move the revision on; a skipped one starts a getChanges.
// Every frame that changes a timeline passes through here, and new messages in
// the open room move its read marker (./readMarker).
import { CHANGES_MAX } from '../limits';
import type { BackoffPolicy } from '../connection/backoff';
import type { Link } from '../connection/socket';
import type { ChatMessage, ServerFrame } from '../protocol';
import { HistoryRequests } from './history';
import { ReadMarker } from './readMarker';
import { type Timeline, type Timelines, deleteMessage, firstId, lastId, receiveMessages, updateMessage } from './messages';
import { RevisionSync, RoomRevisions, applyChanges, newestRev } from './revisions';

export interface RoomSyncOptions {
  link: Link;
  timelines: Timelines;
  /** The open room. */
  room: () => string;
  /** The reader's username (whose messages confirm pending ones). */
  me: () => string;
  isLive: () => boolean;
  /** Confirmed messages arrived (echoes of own messages among them). */
  onReceived: (messages: readonly ChatMessage[]) => void;
  /** The open room `room` is caught up on this connection (and live): what waited can be sent. */
  onSynced: (room: string) => void;
  /** How long a getMessages or getChanges may wait for its answer before the connection counts as dead. */
  requestTimeoutMs?: number;
  /** Delays before a getChanges or newest page answered with an error is asked again. */
  backoff?: BackoffPolicy;
  random?: () => number;
  /** At most one markRead per this long (the read allowance is shared with history). */
  markReadIntervalMs?: number;
  now?: () => number;
}

export class RoomSync {
  private readonly history: HistoryRequests;
  private readonly revisions: RoomRevisions;
  private readonly reads: ReadMarker;
  private caughtUp = false;

  constructor(private readonly options: RoomSyncOptions) {
    const { link, random, backoff, requestTimeoutMs: timeoutMs, timelines, now } = options;
    const newest = () => ({ room: options.room(), id: lastId(timelines.get(options.room())) });
    this.reads = new ReadMarker({ link, newest, intervalMs: options.markReadIntervalMs, now });
    this.history = new HistoryRequests({
      link,
      random,
      backoff,
      requestTimeoutMs: timeoutMs,
      stillWanted: (r) => options.isLive() && r.room === options.room() && !timelines.get(r.room).loaded,
    });
    this.revisions = new RoomRevisions(
      (room) =>
        new RevisionSync({
          // getChanges answers for the connection's room: only the open room asks.
          request: (sinceRev) =>
            room === options.room() && link.send({ action: 'getChanges', sinceRev, limit: CHANGES_MAX }),
          apply: (messages) => this.receive(room, messages, (t) => applyChanges(t, messages, options.me())),
          onSynced: () => this.synced(room),
          onTimeout: () => link.drop(),
          timeoutMs,
          backoff,
          random,
        }),
    );
  }

  /** The open room is caught up on this connection: sends go straight out. */
  get ready(): boolean {
    return this.caughtUp;
  }

  /** After an open or a join: the newest page of a new room, or the changes since the last revision. */
  sync(room: string): void {
    if (this.options.timelines.get(room).loaded) this.revisions.of(room).catchUp();
    else if (!this.history.has('newest', room)) this.history.ask({ kind: 'newest', room });
  }

  /** Ask what changed in the open room since the last revision applied (a tab shown again). */
  catchUp(): void {
    const room = this.options.room();
    if (this.options.isLive() && this.options.timelines.get(room).loaded) this.revisions.of(room).catchUp();
  }

  /** Ask for the page before the oldest message shown (scrolled to the top); false when there is none to ask. */
  loadOlder(): boolean {
    const room = this.options.room();
    const timeline = this.options.timelines.get(room);
    const before = firstId(timeline);
    if (!timeline.loaded || !timeline.hasOlder || before === undefined) return false;
    if (this.history.has('older', room)) return false;
    this.history.ask({ kind: 'older', room, before });
    return true;
  }

  loadingOlder(room: string): boolean {
    return this.history.has('older', room);
  }

  /** The reader moves from room `from` to `to` (call before the open room changes). */
  moved(from: string, to: string): void {
    this.caughtUp = false;
    this.revisions.of(from).disconnected(); // getChanges asks about the connection's room
    this.history.keepOnly(to);
  }

  onFrame(frame: ServerFrame): void {
    const { timelines } = this.options;
    switch (frame.type) {
      case 'message':
        this.receive(frame.message.room, [frame.message]);
        return this.seen(frame.message.room, frame.message.rev);
      case 'messageUpdated':
        // Placed by seq even when its message was never seen (that gap is filled by getChanges).
        timelines.update(frame.message.room, (t) =>
          frame.message.rev === undefined
            ? updateMessage(t, frame.message)
            : applyChanges(t, [frame.message], this.options.me()),
        );
        return this.seen(frame.message.room, frame.message.rev);
      case 'messageDeleted': {
        const held = timelines.get(frame.room).messages.some((m) => m.id === frame.id);
        timelines.update(frame.room, (t) => deleteMessage(t, frame.id, frame.rev));
        // A tombstone needs the message; one not held yet comes by getChanges.
        if (held) return this.seen(frame.room, frame.rev);
        if (frame.rev !== undefined && frame.room === this.options.room()) this.revisions.of(frame.room).missed(frame.rev);
        return;
      }
      case 'changes':
        return this.revisions.of(frame.room).onChanges(frame.messages, frame.rev, frame.hasMore);
      case 'messages':
        if (!this.history.answered(frame.room, (r) => this.onPage(r.kind, frame.room, frame.messages, frame.hasMore))) {
          this.receive(frame.room, frame.messages); // not the answer we wait for; its messages are still real
        }
        return;
    }
  }

  /** An error frame: a getMessages or getChanges it answers is asked again later; a throttled request shortly. */
  onError(code: string, action?: string): void {
    if (action === undefined && code === 'rate_limited') this.history.throttled();
    if (action === 'getMessages') this.history.failed();
    // Asked again after a backoff: an error never counts as caught up.
    if (action === 'getChanges') this.revisions.of(this.options.room()).onError();
  }

  /** The connection is gone (or the client stops): whatever was asked died with it. */
  disconnected(): void {
    this.caughtUp = false;
    this.history.disconnected();
    this.revisions.disconnected();
  }

  /** For good: no timer of the read marker either. */
  stop(): void {
    this.disconnected();
    this.reads.stop();
  }

  private onPage(kind: 'newest' | 'older', room: string, messages: ChatMessage[], hasMore: boolean): void {
    this.receive(room, messages);
    this.options.timelines.update(room, (t) => ({ ...t, hasOlder: hasMore, loaded: true }));
    // The newest page reflects the room up to its newest revision at least; the
    // changes since (edits of older messages, anything newer) come next.
    if (kind === 'newest') this.revisions.of(room).start(newestRev(messages));
  }

  private synced(room: string): void {
    if (room !== this.options.room() || !this.options.isLive()) return;
    this.caughtUp = true;
    this.options.onSynced(room);
  }

  private receive(
    room: string,
    messages: readonly ChatMessage[],
    merge = (t: Timeline) => receiveMessages(t, messages, this.options.me()),
  ): void {
    this.options.timelines.update(room, merge);
    this.options.onReceived(messages);
    if (room === this.options.room()) this.reads.mark();
  }

  /** A live change carried revision `rev`: a skipped revision starts a getChanges. */
  private seen(room: string, rev: number | undefined): void {
    if (rev !== undefined && room === this.options.room()) this.revisions.of(room).seen(rev);
  }
}
