// The chat as the view sees it: one ReconnectingSocket and the parts it feeds.
// React subscribes to snapshots (useSyncExternalStore); nothing here touches
// the DOM. Each concern keeps its own state and timers; this class routes
// frames and the reader's actions to them, and stop() ends every one:
//   ./roomSync     the timeline kept whole: newest page, older pages, catch-up
//                  by revision (./history, ./revisions), live changes, the
//                  read marker (./readMarker)
//   ./outbox       own messages pending, sent, echoed or failed; edits, deletes
//   ./people       members, occupancy and the typing line (./typing)
//   ./sessionWatch session expiry, a refused token, a refusing room
import { DEFAULT_ROOM } from '../limits';
import { type ServerFrame, describeError } from '../protocol';
import type { BackoffPolicy } from '../connection/backoff';
import { ReconnectingSocket, type SocketStatus, type WebSocketLike } from '../connection/socket';
import { type Timeline, Timelines } from './messages';
import type { Occupancy } from './occupancy';
import { Outbox } from './outbox';
import { RoomPeople } from './people';
import type { Members } from './presence';
import { RoomSync } from './roomSync';
import type { Session } from './session';
import { SessionWatch } from './sessionWatch';
import { Snapshots } from './snapshots';

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

export class ChatClient {
  private readonly socket: ReconnectingSocket;
  private readonly timelines = new Timelines();
  private readonly roomSync: RoomSync;
  private readonly outbox: Outbox;
  private readonly people: RoomPeople;
  private readonly watch: SessionWatch;
  private room: string;
  private status: SocketStatus = 'connecting';
  private retryInMs: number | null = null;
  private notice: string | null = null;
  /** The room the server last confirmed this connection is in (null: none, or not yet). */
  private entered: string | null = null;
  private readonly view = new Snapshots<ChatSnapshot>(() => this.buildSnapshot());

  constructor(options: ChatClientOptions) {
    const { random, now, session, onSessionEnded, checkServerUp, refresh } = options;
    this.room = options.room;
    const link = (this.socket = new ReconnectingSocket({
      url: () => `${options.wsUrl}?${new URLSearchParams({ token: this.watch.session.token, room: this.room })}`,
      onFrame: (frame) => this.onFrame(frame),
      onOpen: () => {
        this.watch.opened();
        this.entered = this.room;
        this.sync(this.room);
      },
      onStatus: (status, retryInMs) => this.onStatus(status, retryInMs),
      onHandshakeFailure: (failures) => this.watch.handshakeFailed(failures),
      createSocket: options.createSocket,
      backoff: options.backoff,
      random,
      pingIntervalMs: options.pingIntervalMs,
    }));
    const timelines = this.timelines;
    this.roomSync = new RoomSync({
      link,
      timelines,
      room: () => this.room,
      me: () => this.watch.session.username,
      isLive: () => this.status === 'live',
      onReceived: (messages) => this.outbox.received(messages),
      onSynced: (room) => this.outbox.flush(room), // send what waited
      requestTimeoutMs: options.requestTimeoutMs,
      backoff: options.changesBackoff,
      random,
      markReadIntervalMs: options.markReadIntervalMs,
      now,
    });
    const onChange = () => this.view.emit();
    this.outbox = new Outbox({ link, timelines, onChange, echoTimeoutMs: options.echoTimeoutMs });
    this.people = new RoomPeople(this.room, { link, now, onChange });
    this.watch = new SessionWatch({
      session, onSessionEnded, checkServerUp, refresh, now,
      close: () => this.stop(),
      reconnect: () => this.socket.reconnectNow(),
      isLive: () => this.status === 'live',
      leaveRefusingRoom: () =>
        this.room !== DEFAULT_ROOM && this.moveOn(DEFAULT_ROOM, 'You cannot enter that room any more.'),
    });
  }

  // ---- what the view calls -------------------------------------------------

  subscribe = this.view.subscribe;
  getSnapshot = this.view.get;

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
    this.roomSync.stop();
    this.outbox.cancel();
    this.people.typing.stop();
  }

  /** Try to reconnect now rather than after the backoff (the browser came back online). */
  reconnectNow(): void {
    this.socket.reconnectNow();
  }

  /** Ask what changed in the open room since the last revision applied (a tab shown again). */
  catchUp(): void {
    this.roomSync.catchUp();
  }

  /**
   * Send a message (shown as pending until its echo). Returns why it cannot be
   * sent, or null. While offline it waits and goes out after the reconnect.
   */
  send(text: string): string | null {
    const added = this.outbox.add(this.room, text);
    if ('problem' in added) return added.problem;
    this.transmit(added.clientId);
    return null;
  }

  /** Send a failed message again, with its original clientId (the server stores it once). */
  retry(clientId: string): void {
    this.outbox.retry(this.room, clientId);
    this.transmit(clientId);
  }

  /** The reader is typing: tell the room, at most once per TYPING_INTERVAL_MS. */
  typing(): void {
    if (this.roomSync.ready) this.people.typing.typed();
  }

  /** Change the text of one of our messages; returns why not, or null. */
  edit(id: string, text: string): string | null {
    return this.outbox.edit(id, text);
  }

  /** Delete one of our messages (it stays as "Message deleted"). */
  remove(id: string): void {
    const problem = this.outbox.remove(id);
    if (problem) this.say(problem);
  }

  /** Forget a failed message. */
  discard(clientId: string): void {
    this.outbox.discard(this.room, clientId);
    this.view.emit();
  }

  /** Move to another room (already validated and normalized by the caller). */
  joinRoom(room: string): void {
    if (room === this.room) return;
    this.enter(room);
    this.notice = null;
    this.socket.send({ action: 'joinRoom', room });
    this.view.emit();
  }

  /** Ask for the page before the oldest message shown (scrolled to the top). */
  loadOlder(): void {
    if (this.roomSync.loadOlder()) this.view.emit();
  }

  dismissNotice(): void {
    this.say(null);
  }

  // ---- socket events -------------------------------------------------------

  private onStatus(status: SocketStatus, retryInMs?: number): void {
    this.status = status;
    this.retryInMs = retryInMs ?? null;
    if (status !== 'live') {
      // Whatever was in flight died with the connection; the reopen re-syncs.
      this.roomSync.disconnected();
      this.outbox.cancel();
    }
    this.view.emit();
  }

  private onFrame(frame: ServerFrame): void {
    this.roomSync.onFrame(frame);
    const room = frame.type === 'message' ? frame.message.room : 'room' in frame ? frame.room : undefined;
    if (room === this.room) this.people.onFrame(frame, this.watch.session.username);
    switch (frame.type) {
      case 'joined':
        this.entered = frame.room;
        // Only the room we still want; a quick A→B→C leaves a stale "joined B".
        this.sync(frame.room);
        break;
      case 'error':
        this.onError(frame.code, frame.message, frame.action, frame.clientId);
        break;
      case 'removed': {
        // The server took this connection out of the room: go to the default room.
        if (frame.room !== this.room) break;
        this.entered = null;
        const to = frame.room === DEFAULT_ROOM ? DEFAULT_ROOM_FALLBACK : DEFAULT_ROOM;
        this.moveOn(to, `You are no longer in #${frame.room}.`);
        break;
      }
    }
    this.view.emit();
  }

  private onError(code: string, message: string, action?: string, clientId?: string): void {
    if (code === 'unauthorized') this.watch.unauthorized();
    const words = describeError(code, message);
    if (clientId !== undefined) this.outbox.failed(clientId, words);
    this.roomSync.onError(code, action);
    // A room we may not enter: the connection stayed where it was, so do we.
    if (action === 'joinRoom' && code === 'forbidden' && this.entered !== null) {
      this.enter(this.entered);
      this.sync(this.room);
    }
    // A catch-up, a read marker or a typing notice that did not go through is nothing to show.
    if (action === 'getChanges' || action === 'markRead' || action === 'typing') return;
    this.notice = action === 'joinRoom' ? `Could not join the room: ${words}` : words;
  }

  /** After an open or a join: who is here, and the timeline made whole. */
  private sync(room: string): void {
    if (room !== this.room) return;
    this.socket.send({ action: 'getMembers' });
    this.roomSync.sync(room);
  }

  private transmit(clientId: string): void {
    this.notice = null;
    if (this.roomSync.ready) this.outbox.transmit(this.room, clientId);
    this.view.emit();
  }

  /** The open room is now `room`. */
  private enter(room: string): void {
    this.roomSync.moved(this.room, room);
    this.room = room;
    this.people.enter(room);
  }

  /** Go to another room because this one is closed to us, saying why. */
  private moveOn(room: string, why: string): true {
    this.joinRoom(room);
    this.say(why);
    return true;
  }

  private say(notice: string | null): void {
    this.notice = notice;
    this.view.emit();
  }

  private buildSnapshot(): ChatSnapshot {
    const { status, retryInMs, room, notice } = this;
    const { members, occupancy } = this.people;
    const [timeline, typing] = [this.timelines.get(room), this.people.typing.line];
    const loadingOlder = this.roomSync.loadingOlder(room);
    return { status, retryInMs, room, timeline, loadingOlder, notice, members, occupancy, typing };
  }

}
