// The chat as the view sees it: one ReconnectingSocket and the parts it feeds.
// React subscribes to snapshots (useSyncExternalStore); nothing here touches
// the DOM. Each concern, with its timers, is its own module; this class routes
// frames and the reader's actions to them, and stop() ends every one:
//   history pages ./history · catch-up by revision ./revisions · own messages
//   and their echoes ./outbox · read marker ./readMarker · typing ./typing ·
//   session expiry and refusal ./sessionWatch · members ./presence, ./occupancy
import { CHANGES_MAX, DEFAULT_ROOM, textProblem } from '../limits';
import { type ChatMessage, type ServerFrame, describeError } from '../protocol';
import type { BackoffPolicy } from '../connection/backoff';
import { ReconnectingSocket, type SocketStatus, type WebSocketLike } from '../connection/socket';
import { HistoryRequests } from './history';
import { type Timeline, Timelines, addPending, deleteMessage, firstId, isMe, lastId, receiveMessages, removePending, setPendingState, updateMessage } from './messages';
import { afterPresence, type Occupancy, occupancyFrom, occupancyOfMembers } from './occupancy';
import { Outbox, NO_ECHO } from './outbox';
import { type Members, applyPresence, membersFrom, noMembers } from './presence';
import { ReadMarker } from './readMarker';
import { RevisionSync, RoomRevisions, applyChanges, newestRev } from './revisions';
import type { Session } from './session';
import { SessionWatch } from './sessionWatch';
import { Typing } from './typing';

export interface ChatSnapshot {
  status: SocketStatus;
  /** While reconnecting: how long until the next attempt. */
  retryInMs: number | null;
  room: string;
  timeline: Timeline;
  /** An older page is on its way (scrolled to the top). */
  loadingOlder: boolean;
  /** The last server error worth showing beside the composer. */
  notice: string | null;
  /** Who is online in the room. */
  members: Members;
  /** A big room's count of users online (occupancy), when the list cannot say it. */
  occupancy: Occupancy | null;
  /** "alice is typing…", or "". */
  typing: string;
}

export interface ChatClientOptions {
  wsUrl: string;
  session: Session;
  room: string;
  /** The session can no longer be used (expired or refused): back to the login form. */
  onSessionEnded: (reason: string) => void;
  /** Whether the server answers at all: tells "token refused" from "server down". */
  checkServerUp?: () => Promise<boolean>;
  /** A fresh session after the server said `unauthorized` (null: it cannot be renewed, already reported). */
  refresh?: () => Promise<Session | null>;
  createSocket?: (url: string) => WebSocketLike;
  backoff?: BackoffPolicy;
  random?: () => number;
  pingIntervalMs?: number;
  /** How long a sent message may wait for its echo before it shows as failed. */
  echoTimeoutMs?: number;
  /** How long a history or getChanges request may wait before the connection counts as dead. */
  requestTimeoutMs?: number;
  /** Delays before a getChanges or newest page answered with an error is asked again. */
  changesBackoff?: BackoffPolicy;
  /** At most one markRead per this long (the read allowance is shared with history). */
  markReadIntervalMs?: number;
  now?: () => number;
}

// Where a removed connection goes (and where to go when removed from that one).
const DEFAULT_ROOM_FALLBACK = 'random';
const OFFLINE = 'Not connected: try again when the chat is live.';

export class ChatClient {
  private readonly socket: ReconnectingSocket;
  private readonly timelines = new Timelines();
  private readonly listeners = new Set<() => void>();
  private readonly history: HistoryRequests;
  private readonly revisions: RoomRevisions;
  private readonly outbox: Outbox;
  private readonly reads: ReadMarker;
  private readonly typists: Typing;
  private readonly watch: SessionWatch;
  private room: string;
  private status: SocketStatus = 'connecting';
  private retryInMs: number | null = null;
  private notice: string | null = null;
  /** The connection is in `room` and its history is caught up: sends go straight out. */
  private ready = false;
  /** The room the server last confirmed this connection is in (null: none, or not yet). */
  private entered: string | null = null;
  private members: Members;
  private occupancy: Occupancy | null = null;
  private snapshot: ChatSnapshot;

  constructor(options: ChatClientOptions) {
    this.room = options.room;
    this.members = noMembers(options.room);
    const { random, now } = options;
    this.socket = new ReconnectingSocket({
      url: () => `${options.wsUrl}?${new URLSearchParams({ token: this.watch.session.token, room: this.room })}`,
      onFrame: (frame) => this.onFrame(frame),
      onOpen: () => {
        this.watch.opened();
        this.entered = this.room;
        this.sync(this.room);
      },
      onStatus: (status, retryInMs) => this.onStatus(status, retryInMs),
      onHandshakeFailure: (failures) => this.watch.handshakeFailed(failures),
      ...{ createSocket: options.createSocket, backoff: options.backoff, random, pingIntervalMs: options.pingIntervalMs },
    });
    const link = this.socket;
    const timeoutMs = options.requestTimeoutMs;
    this.history = new HistoryRequests({
      link, random, requestTimeoutMs: timeoutMs, backoff: options.changesBackoff,
      stillWanted: (r) => this.status === 'live' && r.room === this.room && !this.timelines.get(r.room).loaded,
    });
    this.revisions = new RoomRevisions((room) => new RevisionSync({
      // getChanges answers for the connection's room: only the open room asks.
      request: (sinceRev) => room === this.room && link.send({ action: 'getChanges', sinceRev, limit: CHANGES_MAX }),
      apply: (messages) => this.receive(room, messages, (t) => applyChanges(t, messages, this.me)),
      onSynced: () => this.synced(room),
      onTimeout: () => link.drop(), timeoutMs, backoff: options.changesBackoff, random,
    }));
    this.outbox = new Outbox({ echoTimeoutMs: options.echoTimeoutMs, onNoEcho: (room, clientId) => {
      this.timelines.update(room, (t) => setPendingState(t, clientId, 'failed', NO_ECHO));
      this.emit();
    } });
    const newest = () => ({ room: this.room, id: lastId(this.timelines.get(this.room)) });
    this.reads = new ReadMarker({ link, newest, intervalMs: options.markReadIntervalMs, now });
    this.typists = new Typing({ link, now, onChange: () => this.emit() });
    this.watch = new SessionWatch({
      ...options, close: () => this.stop(), reconnect: () => this.socket.reconnectNow(),
      isLive: () => this.status === 'live',
      leaveRefusingRoom: () => {
        if (this.room === DEFAULT_ROOM) return false;
        this.joinRoom(DEFAULT_ROOM);
        this.say('You cannot enter that room any more.');
        return true;
      },
    });
    this.snapshot = this.buildSnapshot();
  }

  // ---- what the view calls -------------------------------------------------

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): ChatSnapshot => this.snapshot;

  start(): void {
    if (this.watch.start()) this.socket.start();
  }

  /** Use a renewed session from now on (the next connection carries its token). */
  setSession(session: Session): void {
    this.watch.setSession(session);
  }

  /** Leave for good: close the socket, cancel every timer. */
  stop(): void {
    this.watch.stop();
    this.socket.stop();
    this.disconnected();
    this.reads.stop();
    this.typists.stop();
  }

  /** Try to reconnect now rather than after the backoff (the browser came back online). */
  reconnectNow(): void {
    this.socket.reconnectNow();
  }

  /** Ask what changed in the open room since the last revision applied (a tab shown again). */
  catchUp(): void {
    if (this.status === 'live' && this.timelines.get(this.room).loaded) this.revisions.of(this.room).catchUp();
  }

  /** Send a message (pending until its echo); why it cannot be sent, or null. Offline, it goes out after the reconnect. */
  send(text: string): string | null {
    const trimmed = text.trim();
    const problem = textProblem(trimmed);
    if (problem) return problem;
    const clientId = this.outbox.newClientId();
    this.timelines.update(this.room, (t) => addPending(t, clientId, trimmed));
    this.resend(clientId);
    return null;
  }

  /** Send a failed message again, with its original clientId (the server stores it once). */
  retry(clientId: string): void {
    this.timelines.update(this.room, (t) => setPendingState(t, clientId, 'pending'));
    this.resend(clientId);
  }

  /** The reader is typing: tell the room, at most once per TYPING_INTERVAL_MS. */
  typing(): void {
    if (this.ready) this.typists.typed();
  }

  /** Change the text of one of our messages; returns why not, or null. */
  edit(id: string, text: string): string | null {
    const trimmed = text.trim();
    const problem = textProblem(trimmed);
    if (problem) return problem;
    const frame = { action: 'editMessage', id, text: trimmed, clientId: this.outbox.newClientId() } as const;
    return this.socket.send(frame) ? null : OFFLINE;
  }

  /** Delete one of our messages (it stays as "Message deleted"). */
  remove(id: string): void {
    if (!this.socket.send({ action: 'deleteMessage', id, clientId: this.outbox.newClientId() })) this.say(OFFLINE);
  }

  /** Forget a failed message. */
  discard(clientId: string): void {
    this.timelines.update(this.room, (t) => removePending(t, clientId));
    this.emit();
  }

  /** Move to another room (already validated and normalized by the caller). */
  joinRoom(room: string): void {
    if (room === this.room) return;
    this.revisions.of(this.room).disconnected(); // getChanges asks about the connection's room
    this.history.keepOnly(room);
    this.enter(room);
    this.notice = null;
    this.occupancy = null;
    this.socket.send({ action: 'joinRoom', room });
    this.emit();
  }

  /** Ask for the page before the oldest message shown (scrolled to the top). */
  loadOlder(): void {
    const timeline = this.timelines.get(this.room);
    const before = firstId(timeline);
    if (!timeline.loaded || !timeline.hasOlder || before === undefined) return;
    if (this.history.has('older', this.room)) return;
    this.history.ask({ kind: 'older', room: this.room, before });
    this.emit();
  }

  dismissNotice(): void {
    this.say(null);
  }

  // ---- socket events -------------------------------------------------------

  private onStatus(status: SocketStatus, retryInMs?: number): void {
    this.status = status;
    this.retryInMs = retryInMs ?? null;
    if (status !== 'live') this.disconnected(); // the reopen re-syncs
    this.emit();
  }

  /** Whatever was in flight died with the connection. */
  private disconnected(): void {
    this.ready = false;
    this.history.disconnected();
    this.revisions.disconnected();
    this.outbox.cancel();
  }

  private onFrame(frame: ServerFrame): void {
    const open = 'room' in frame && frame.room === this.room;
    switch (frame.type) {
      case 'message':
        this.receive(frame.message.room, [frame.message]);
        if (frame.message.room === this.room) this.typists.sent(frame.message.sender);
        this.seen(frame.message.room, frame.message.rev);
        break;
      case 'messageUpdated': // placed by seq even when its message was never seen (getChanges fills that gap)
        this.timelines.update(frame.message.room, (t) =>
          frame.message.rev === undefined ? updateMessage(t, frame.message) : applyChanges(t, [frame.message], this.me));
        this.seen(frame.message.room, frame.message.rev);
        break;
      case 'messageDeleted': {
        const held = this.timelines.get(frame.room).messages.some((m) => m.id === frame.id);
        this.timelines.update(frame.room, (t) => deleteMessage(t, frame.id, frame.rev));
        // A tombstone needs the message; one not held yet comes by getChanges.
        if (held) this.seen(frame.room, frame.rev);
        else if (frame.rev !== undefined && open) this.revisions.of(frame.room).missed(frame.rev);
        break;
      }
      case 'changes':
        this.revisions.of(frame.room).onChanges(frame.messages, frame.rev, frame.hasMore);
        break;
      case 'members':
        if (open) [this.members, this.occupancy] = [membersFrom(frame.room, frame.members), occupancyOfMembers(frame.room, frame.members, frame.count)];
        break;
      case 'presence':
        if (open) [this.members, this.occupancy] = [applyPresence(this.members, frame.username, frame.status === 'online'), afterPresence(this.occupancy, frame.room)];
        break;
      case 'occupancy':
        if (open) this.occupancy = occupancyFrom(frame.room, frame.count);
        break;
      case 'typing':
        if (open && !isMe(frame.username, this.me)) this.typists.someone(frame.username);
        break;
      case 'messages':
        if (!this.history.answered(frame.room, (request) => this.onPage(request.kind, frame.room, frame.messages, frame.hasMore))) {
          this.receive(frame.room, frame.messages); // not the answer we wait for; its messages are still real
        }
        break;
      case 'joined':
        this.entered = frame.room;
        this.sync(frame.room); // only the room we still want: a quick A→B→C leaves a stale "joined B"
        break;
      case 'error':
        this.onError(frame.code, frame.message, frame.action, frame.clientId);
        break;
      case 'removed': // the server took this connection out of the room: go to the default room
        if (!open) break;
        this.entered = null;
        this.joinRoom(frame.room === DEFAULT_ROOM ? DEFAULT_ROOM_FALLBACK : DEFAULT_ROOM);
        this.notice = `You are no longer in #${frame.room}.`;
        break;
    }
    this.emit();
  }

  private onError(code: string, message: string, action?: string, clientId?: string): void {
    if (code === 'unauthorized') this.watch.unauthorized();
    const words = describeError(code, message);
    if (clientId !== undefined) {
      this.outbox.settled(clientId);
      this.timelines.updateAll((t) => setPendingState(t, clientId, 'failed', words));
    }
    if (action === undefined && code === 'rate_limited') this.history.throttled();
    if (action === 'getMessages') this.history.failed();
    // A room we may not enter: the connection stayed where it was, so do we.
    if (action === 'joinRoom' && code === 'forbidden' && this.entered !== null) {
      this.enter(this.entered);
      this.sync(this.room);
    }
    if (action === 'getChanges') return this.revisions.of(this.room).onError(); // asked again after a backoff
    // A read marker or a typing notice that did not go through is nothing to show.
    if (action === 'markRead' || action === 'typing') return;
    this.notice = action === 'joinRoom' ? `Could not join the room: ${words}` : words;
  }

  // ---- history -------------------------------------------------------------

  /** After an open or a join: the newest page of a new room, or the changes since the last revision. */
  private sync(room: string): void {
    if (room !== this.room) return;
    this.socket.send({ action: 'getMembers' });
    if (this.timelines.get(room).loaded) this.revisions.of(room).catchUp();
    else if (!this.history.has('newest', room)) this.history.ask({ kind: 'newest', room });
  }

  private onPage(kind: 'newest' | 'older', room: string, messages: ChatMessage[], hasMore: boolean): void {
    this.receive(room, messages);
    this.timelines.update(room, (t) => ({ ...t, hasOlder: hasMore, loaded: true }));
    // The newest page reflects the room up to its newest revision at least; the changes
    // since come next, and the room counts as caught up when they are in (./revisions).
    if (kind === 'newest') this.revisions.of(room).start(newestRev(messages));
  }

  /** A live change carried revision `rev`: a skipped revision starts a getChanges. */
  private seen(room: string, rev: number | undefined): void {
    if (rev !== undefined && room === this.room) this.revisions.of(room).seen(rev);
  }

  /** The room is caught up on this connection: send what waited. */
  private synced(room: string): void {
    if (room !== this.room || this.status !== 'live') return;
    this.ready = true;
    for (const p of this.timelines.get(room).pending) if (p.state === 'pending') this.transmit(room, p.clientId);
  }

  // ---- own messages and the timeline -----------------------------------------

  private resend(clientId: string): void {
    this.notice = null;
    if (this.ready) this.transmit(this.room, clientId);
    this.emit();
  }

  private transmit(room: string, clientId: string): void {
    const entry = this.timelines.get(room).pending.find((p) => p.clientId === clientId);
    if (entry && this.socket.send({ action: 'sendMessage', text: entry.text, clientId })) this.outbox.sent(room, clientId);
  }

  private receive(room: string, messages: readonly ChatMessage[], merge = (t: Timeline) => receiveMessages(t, messages, this.me)): void {
    this.outbox.received(messages);
    this.timelines.update(room, merge);
    if (room === this.room) this.reads.mark();
  }

  /** The open room is now `room`: nobody is known to be in it or typing yet. */
  private enter(room: string): void {
    this.room = room;
    this.ready = false;
    this.members = noMembers(room);
    this.typists.clear();
    this.timelines.get(room);
  }

  private get me(): string {
    return this.watch.session.username;
  }

  private say(notice: string | null): void {
    this.notice = notice;
    this.emit();
  }

  private buildSnapshot(): ChatSnapshot {
    const { status, retryInMs, room, notice, members, occupancy } = this;
    const [timeline, loadingOlder] = [this.timelines.get(room), this.history.has('older', room)];
    return { status, retryInMs, room, timeline, loadingOlder, notice, members, occupancy, typing: this.typists.line };
  }

  private emit(): void {
    this.snapshot = this.buildSnapshot();
    for (const listener of this.listeners) listener();
  }
}
