// The chat as the view sees it: one ReconnectingSocket, the timeline of each
// room visited, our own messages in flight, and the history requests that keep
// the timeline whole. React subscribes to snapshots (useSyncExternalStore);
// nothing here touches the DOM.
//
// History requests go out one at a time: a `messages` frame names its room but
// not which request it answers, so with one request in flight the answer is
// unambiguous even where API Gateway may run frames' Lambdas concurrently.
import { CHANGES_MAX, DEFAULT_ROOM, HISTORY_MAX, TYPING_INTERVAL_MS, textProblem } from '../limits';
import { type ChatMessage, type ServerFrame, describeError } from '../protocol';
import { type BackoffPolicy, backoffDelay } from '../connection/backoff';
import { ReconnectingSocket, type SocketStatus, type WebSocketLike } from '../connection/socket';
import {
  type Timeline,
  addPending,
  deleteMessage,
  emptyTimeline,
  firstId,
  isMe,
  lastId,
  receiveMessages,
  removePending,
  setPendingState,
  updateMessage,
} from './messages';
import {
  type Members,
  type Typists,
  applyPresence,
  membersFrom,
  nextExpiry,
  noMembers,
  someoneTyping,
  stopTyping,
  typingLine,
} from './presence';
import { CHANGES_BACKOFF, RevisionSync, applyChanges, newestRev } from './revisions';
import { afterPresence, type Occupancy, occupancyFrom, occupancyOfMembers } from './occupancy';
import { type Session, msUntilExpiry } from './session';

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

// Catching up is getChanges' job (./revisions): history pages are the newest
// page of a room entered for the first time, and older pages.
type HistoryKind = 'newest' | 'older';

interface HistoryRequest {
  kind: HistoryKind;
  room: string;
  before?: string;
  after?: string;
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
  /** How long a history request may wait before the connection counts as dead. */
  requestTimeoutMs?: number;
  /** Delays before a getChanges or newest page answered with an error is asked again. */
  changesBackoff?: BackoffPolicy;
  /** At most one markRead per this long (the read allowance is shared with history). */
  markReadIntervalMs?: number;
  now?: () => number;
}

// Where a removed connection goes (and where to go when removed from that one).
const DEFAULT_ROOM_FALLBACK = 'random';

export const SESSION_EXPIRED = 'Your session has expired. Please log in again.';
export const SESSION_REFUSED = 'The server no longer accepts your session. Please log in again.';
const NO_ECHO = 'No reply from the server.';
/** A history request the stage throttled is asked again this much later. */
export const THROTTLED_RETRY_MS = 2_000;

// Handshakes failing this many times in a row while the server answers HTTP
// suggest the token itself is refused (browsers do not expose the 401).
const REFUSALS_BEFORE_LOGOUT = 3;
// setTimeout's ceiling (~24.8 days); longer sessions re-arm the timer.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class ChatClient {
  private readonly options: ChatClientOptions;
  private readonly socket: ReconnectingSocket;
  private readonly timelines = new Map<string, Timeline>();
  /** Per room: the last revision applied and the getChanges that keep it whole. */
  private readonly revisions = new Map<string, RevisionSync>();
  private changesTimer: ReturnType<typeof setTimeout> | null = null;
  /** getMessages answered with an error this many times in a row (for the backoff). */
  private historyFailures = 0;
  private readonly listeners = new Set<() => void>();
  private readonly echoTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private room: string;
  private session: Session;
  /** A refresh asked for by an `unauthorized` frame is under way. */
  private refreshing = false;
  private status: SocketStatus = 'connecting';
  private retryInMs: number | null = null;
  private notice: string | null = null;
  /** The connection is in `room` and its history is caught up: sends go straight out. */
  private ready = false;
  private inflight: HistoryRequest | null = null;
  private requestTimer: ReturnType<typeof setTimeout> | null = null;
  private queue: HistoryRequest[] = [];
  private expiryTimer: ReturnType<typeof setTimeout> | null = null;
  /** The room the server last confirmed this connection is in (null: none, or not yet). */
  private entered: string | null = null;
  private clientIdCounter = 0;
  private readonly clientIdPrefix = randomTag();
  private ended = false;
  /** The server answered /health while a handshake failed; one more failure ends the session. */
  private refusalSuspected = false;
  private snapshot: ChatSnapshot;
  private members: Members;
  private occupancy: Occupancy | null = null;
  private typists: Typists = new Map();
  private typingTimer: ReturnType<typeof setTimeout> | null = null;
  private lastTypingSent = -Infinity;
  /** The newest id this connection marked read in the open room, and when. */
  private marked: { room: string; id: string } | null = null;
  private lastMarkAt = -Infinity;
  private markTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(options: ChatClientOptions) {
    this.options = options;
    this.room = options.room;
    this.members = noMembers(options.room);
    this.session = options.session;
    this.socket = new ReconnectingSocket({
      url: () => this.socketUrl(),
      onFrame: (frame) => this.onFrame(frame),
      onOpen: () => {
        this.refusalSuspected = false;
        this.entered = this.room;
        this.sync(this.room);
      },
      onStatus: (status, retryInMs) => this.onStatus(status, retryInMs),
      onHandshakeFailure: (failures) => this.onHandshakeFailure(failures),
      createSocket: options.createSocket,
      backoff: options.backoff,
      random: options.random,
      pingIntervalMs: options.pingIntervalMs,
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
    this.ended = false;
    if (this.sessionExpired()) return this.end(SESSION_EXPIRED);
    this.armExpiryTimer();
    this.socket.start();
  }

  /** Use a renewed session from now on (the next connection carries its token). */
  setSession(session: Session): void {
    if (session.token === this.session.token) return;
    this.session = session;
    if (this.ended) return;
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    this.armExpiryTimer();
  }

  /** Leave for good: close the socket, cancel every timer. */
  stop(): void {
    this.ended = true;
    this.socket.stop();
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    this.clearRequest();
    this.clearChangesTimer();
    for (const revisions of this.revisions.values()) revisions.disconnected();
    for (const timer of this.echoTimers.values()) clearTimeout(timer);
    this.echoTimers.clear();
    if (this.typingTimer !== null) clearTimeout(this.typingTimer);
    if (this.markTimer !== null) clearTimeout(this.markTimer);
    this.typingTimer = this.markTimer = null;
  }

  /** Try to reconnect now rather than after the backoff (the browser came back online). */
  reconnectNow(): void {
    this.socket.reconnectNow();
  }

  /** Ask what changed in the open room since the last revision applied (a tab shown again). */
  catchUp(): void {
    if (this.status === 'live' && this.timeline(this.room).loaded) this.revisionsOf(this.room).catchUp();
  }

  /**
   * Send a message (shown as pending until its echo). Returns why it cannot be
   * sent, or null. While offline it waits and goes out after the reconnect.
   */
  send(text: string): string | null {
    const trimmed = text.trim();
    const problem = textProblem(trimmed);
    if (problem) return problem;
    const clientId = this.newClientId();
    this.update(this.room, (t) => addPending(t, clientId, trimmed));
    this.notice = null;
    if (this.ready) this.transmit(this.room, clientId);
    this.emit();
    return null;
  }

  /** Send a failed message again, with its original clientId (the server stores it once). */
  retry(clientId: string): void {
    this.update(this.room, (t) => setPendingState(t, clientId, 'pending'));
    this.notice = null;
    if (this.ready) this.transmit(this.room, clientId);
    this.emit();
  }

  /** The reader is typing: tell the room, at most once per TYPING_INTERVAL_MS. */
  typing(): void {
    const now = this.now();
    if (!this.ready || now - this.lastTypingSent < TYPING_INTERVAL_MS) return;
    if (this.socket.send({ action: 'typing' })) this.lastTypingSent = now;
  }

  /** Change the text of one of our messages; returns why not, or null. */
  edit(id: string, text: string): string | null {
    const trimmed = text.trim();
    const problem = textProblem(trimmed);
    if (problem) return problem;
    if (!this.socket.send({ action: 'editMessage', id, text: trimmed, clientId: this.newClientId() })) {
      return 'Not connected: try again when the chat is live.';
    }
    return null;
  }

  /** Delete one of our messages (it stays as "Message deleted"). */
  remove(id: string): void {
    if (!this.socket.send({ action: 'deleteMessage', id, clientId: this.newClientId() })) {
      this.notice = 'Not connected: try again when the chat is live.';
      this.emit();
    }
  }

  /** Forget a failed message. */
  discard(clientId: string): void {
    this.update(this.room, (t) => removePending(t, clientId));
    this.emit();
  }

  /** Move to another room (already validated and normalized by the caller). */
  joinRoom(room: string): void {
    if (room === this.room) return;
    this.revisions.get(this.room)?.disconnected(); // getChanges asks about the connection's room
    this.clearChangesTimer();
    this.room = room;
    this.ready = false;
    this.queue = this.queue.filter((r) => r.room === room);
    this.notice = null;
    this.members = noMembers(room);
    this.occupancy = null;
    this.typists = new Map();
    if (!this.timelines.has(room)) this.timelines.set(room, emptyTimeline(room));
    this.socket.send({ action: 'joinRoom', room });
    this.emit();
  }

  /** Ask for the page before the oldest message shown (scrolled to the top). */
  loadOlder(): void {
    const timeline = this.timeline(this.room);
    const before = firstId(timeline);
    if (!timeline.loaded || !timeline.hasOlder || before === undefined) return;
    if (this.hasRequest('older', this.room)) return;
    this.request({ kind: 'older', room: this.room, before });
  }

  dismissNotice(): void {
    this.notice = null;
    this.emit();
  }

  // ---- socket events -------------------------------------------------------

  private socketUrl(): string {
    const params = new URLSearchParams({ token: this.session.token, room: this.room });
    return `${this.options.wsUrl}?${params}`;
  }

  private onStatus(status: SocketStatus, retryInMs?: number): void {
    this.status = status;
    this.retryInMs = retryInMs ?? null;
    if (status !== 'live') {
      // Whatever was in flight died with the connection; the reopen re-syncs.
      this.ready = false;
      this.clearRequest();
      this.queue = [];
      this.clearChangesTimer();
      for (const revisions of this.revisions.values()) revisions.disconnected();
      for (const timer of this.echoTimers.values()) clearTimeout(timer);
      this.echoTimers.clear();
    }
    this.emit();
  }

  private onHandshakeFailure(failures: number): void {
    if (this.sessionExpired()) return this.end(SESSION_EXPIRED);
    if (failures < REFUSALS_BEFORE_LOGOUT || !this.options.checkServerUp) return;
    void this.options.checkServerUp().then((up) => {
      if (!up || this.ended || this.status === 'live') return;
      // A private room we were removed from refuses the handshake (403): try the default room.
      if (this.room !== DEFAULT_ROOM) {
        this.joinRoom(DEFAULT_ROOM);
        this.notice = 'You cannot enter that room any more.';
        this.emit();
        return this.socket.reconnectNow();
      }
      // The server may have come back just after that attempt failed: only a
      // second refusal while it answers, tried at once, ends the session.
      // (A token refused at the handshake gets the same one renewal as an
      // `unauthorized` frame; only if that fails does the session end.)
      if (this.refusalSuspected) return this.renewAndReconnect();
      this.refusalSuspected = true;
      this.socket.reconnectNow();
    });
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'message':
        this.receive(frame.message.room, [frame.message]);
        if (frame.message.room === this.room) this.setTypists(stopTyping(this.typists, this.now(), frame.message.sender));
        this.seen(frame.message.room, frame.message.rev);
        break;
      case 'messageUpdated':
        // Placed by seq even when its message was never seen (that gap is filled below).
        this.update(frame.message.room, (t) =>
          frame.message.rev === undefined
            ? updateMessage(t, frame.message)
            : applyChanges(t, [frame.message], this.session.username),
        );
        this.seen(frame.message.room, frame.message.rev);
        break;
      case 'messageDeleted': {
        const held = this.timeline(frame.room).messages.some((m) => m.id === frame.id);
        this.update(frame.room, (t) => deleteMessage(t, frame.id, frame.rev));
        // A tombstone needs the message; one not held yet comes by getChanges.
        if (held) this.seen(frame.room, frame.rev);
        else if (frame.rev !== undefined && frame.room === this.room) this.revisionsOf(frame.room).missed(frame.rev);
        break;
      }
      case 'changes':
        if (frame.room === this.room) this.clearChangesTimer();
        this.revisionsOf(frame.room).onChanges(frame.messages, frame.rev, frame.hasMore);
        break;
      case 'members':
        if (frame.room === this.room) {
          this.members = membersFrom(frame.room, frame.members);
          this.occupancy = occupancyOfMembers(frame.room, frame.members, frame.count);
        }
        break;
      case 'presence':
        if (frame.room === this.room) {
          this.members = applyPresence(this.members, frame.username, frame.status === 'online');
          this.occupancy = afterPresence(this.occupancy, frame.room);
        }
        break;
      case 'occupancy':
        if (frame.room === this.room) this.occupancy = occupancyFrom(frame.room, frame.count);
        break;
      case 'typing':
        if (frame.room === this.room && !isMe(frame.username, this.session.username)) {
          this.setTypists(someoneTyping(this.typists, frame.username, this.now()));
        }
        break;
      case 'read':
        break;
      case 'messages':
        this.onHistory(frame.room, frame.messages, frame.hasMore);
        break;
      case 'joined':
        this.entered = frame.room;
        // Only the room we still want; a quick A→B→C leaves a stale "joined B".
        if (frame.room === this.room) this.sync(frame.room);
        break;
      case 'error':
        this.onError(frame.code, frame.message, frame.action, frame.clientId);
        break;
      case 'removed':
        this.onRemoved(frame.room);
        break;
      case 'pong':
        break;
    }
    this.emit();
  }

  private onError(code: string, message: string, action?: string, clientId?: string): void {
    if (code === 'unauthorized') this.renewAndReconnect();
    const words = describeError(code, message);
    if (clientId !== undefined) {
      this.clearEchoTimer(clientId);
      for (const room of this.timelines.keys()) {
        this.update(room, (t) => setPendingState(t, clientId, 'failed', words));
      }
    }
    // The stage throttled a frame (its error names none): ask again shortly rather
    // than wait out the request timeout and reconnect (which adds load).
    if (action === undefined && code === 'rate_limited' && this.inflight) this.retryThrottled();
    if (action === 'getMessages' && this.inflight) {
      const request = this.inflight;
      this.clearRequest();
      // An error is no answer: the newest page is asked again (backoff, jitter),
      // never taken as loaded; a refused older page is the reader's to ask again.
      if (request.kind === 'newest') this.retryHistory(request);
      this.pump();
    }
    // A room we may not enter: the connection stayed where it was, so do we.
    if (action === 'joinRoom' && code === 'forbidden' && this.entered !== null) this.backTo(this.entered);
    if (action === 'getChanges') {
      // Asked again after a backoff: an error never counts as caught up.
      this.clearChangesTimer();
      this.revisionsOf(this.room).onError();
      return;
    }
    // A read marker or a typing notice that did not go through is nothing to show.
    if (action === 'markRead' || action === 'typing') return;
    this.notice = action === 'joinRoom' ? `Could not join the room: ${words}` : words;
  }

  // ---- rooms one may not be in (v3) -----------------------------------------

  /** The server took this connection out of the room: go to the default room. */
  private onRemoved(room: string): void {
    if (room !== this.room) return;
    this.entered = null;
    this.joinRoom(room === DEFAULT_ROOM ? DEFAULT_ROOM_FALLBACK : DEFAULT_ROOM);
    this.notice = `You are no longer in #${room}.`;
  }

  /** Show the room the connection is still in after a refused join. */
  private backTo(room: string): void {
    this.room = room;
    this.members = noMembers(room);
    this.typists = new Map();
    this.sync(room);
  }

  // ---- history -------------------------------------------------------------

  /** After an open or a join: the newest page of a new room, or the changes since the last revision. */
  private sync(room: string): void {
    if (room !== this.room) return;
    this.socket.send({ action: 'getMembers' });
    if (this.timeline(room).loaded) this.revisionsOf(room).catchUp();
    else if (!this.hasRequest('newest', room)) this.request({ kind: 'newest', room });
  }

  /** A live change carried revision `rev`: a skipped revision starts a getChanges. */
  private seen(room: string, rev: number | undefined): void {
    if (rev !== undefined && room === this.room) this.revisionsOf(room).seen(rev);
  }

  private revisionsOf(room: string): RevisionSync {
    let revisions = this.revisions.get(room);
    if (!revisions) {
      revisions = new RevisionSync({
        request: (sinceRev) => this.requestChanges(room, sinceRev),
        apply: (messages) => {
          for (const m of messages) if (m.clientId !== undefined) this.clearEchoTimer(m.clientId);
          this.update(room, (t) => applyChanges(t, messages, this.session.username));
          if (room === this.room) this.markRead();
        },
        onSynced: () => this.synced(room),
        backoff: this.options.changesBackoff,
        random: this.options.random,
      });
      this.revisions.set(room, revisions);
    }
    return revisions;
  }

  private requestChanges(room: string, sinceRev: number): boolean {
    // getChanges answers for the connection's room: only the open room asks.
    if (room !== this.room || !this.socket.send({ action: 'getChanges', sinceRev, limit: CHANGES_MAX })) return false;
    this.clearChangesTimer();
    // No answer at all means a dead connection: reconnecting asks again.
    this.changesTimer = setTimeout(() => this.socket.drop(), this.options.requestTimeoutMs ?? 15_000);
    return true;
  }

  private clearChangesTimer(): void {
    if (this.changesTimer !== null) clearTimeout(this.changesTimer);
    this.changesTimer = null;
  }

  private retryHistory(request: HistoryRequest): void {
    const wait = backoffDelay(this.historyFailures++, this.options.changesBackoff ?? CHANGES_BACKOFF, this.options.random);
    setTimeout(() => {
      if (!this.ended && this.status === 'live' && request.room === this.room && !this.timeline(request.room).loaded) {
        if (!this.hasRequest('newest', request.room)) this.request(request);
      }
    }, wait);
  }

  private onHistory(room: string, messages: ChatMessage[], hasMore: boolean): void {
    const request = this.inflight;
    if (!request || request.room !== room) {
      // Not the answer we wait for; its messages are still real.
      this.receive(room, messages);
      return;
    }
    this.clearRequest();
    this.historyFailures = 0;
    this.receive(room, messages);
    this.update(room, (t) => ({ ...t, hasOlder: hasMore, loaded: true }));
    // The newest page reflects the room up to its newest revision at least; the
    // changes since (edits of older messages, anything newer) come next, and the
    // room counts as caught up when they are in (./revisions).
    if (request.kind === 'newest') this.revisionsOf(room).start(newestRev(messages));
    this.pump();
  }

  /** The room is caught up on this connection: send what waited. */
  private synced(room: string): void {
    if (room !== this.room || this.status !== 'live') return;
    this.ready = true;
    for (const p of this.timeline(room).pending) {
      if (p.state === 'pending') this.transmit(room, p.clientId);
    }
  }

  private request(request: HistoryRequest): void {
    this.queue.push(request);
    this.pump();
    this.emit();
  }

  private pump(): void {
    if (this.inflight || !this.socket.isOpen) return;
    const next = this.queue.shift();
    if (!next) return;
    this.inflight = next;
    this.socket.send({
      action: 'getMessages',
      limit: HISTORY_MAX,
      ...(next.before !== undefined && { before: next.before }),
      ...(next.after !== undefined && { after: next.after }),
    });
    // No answer at all means a dead connection: reconnecting re-syncs.
    this.requestTimer = setTimeout(() => this.socket.drop(), this.options.requestTimeoutMs ?? 15_000);
  }

  private hasRequest(kind: HistoryKind, room: string): boolean {
    const match = (r: HistoryRequest | null) => r !== null && r.kind === kind && r.room === room;
    return match(this.inflight) || this.queue.some(match);
  }

  private retryThrottled(): void {
    const request = this.inflight;
    if (!request) return;
    this.clearRequest();
    this.queue.unshift(request);
    setTimeout(() => this.pump(), THROTTLED_RETRY_MS);
  }

  private clearRequest(): void {
    if (this.requestTimer !== null) clearTimeout(this.requestTimer);
    this.requestTimer = null;
    this.inflight = null;
  }

  // ---- own messages --------------------------------------------------------

  private transmit(room: string, clientId: string): void {
    const entry = this.timeline(room).pending.find((p) => p.clientId === clientId);
    if (!entry) return;
    if (!this.socket.send({ action: 'sendMessage', text: entry.text, clientId })) return;
    this.clearEchoTimer(clientId);
    this.echoTimers.set(
      clientId,
      setTimeout(() => {
        this.echoTimers.delete(clientId);
        this.update(room, (t) => setPendingState(t, clientId, 'failed', NO_ECHO));
        this.emit();
      }, this.options.echoTimeoutMs ?? 20_000),
    );
  }

  private clearEchoTimer(clientId: string): void {
    const timer = this.echoTimers.get(clientId);
    if (timer !== undefined) clearTimeout(timer);
    this.echoTimers.delete(clientId);
  }

  private receive(room: string, messages: readonly ChatMessage[]): void {
    for (const m of messages) if (m.clientId !== undefined) this.clearEchoTimer(m.clientId);
    this.update(room, (t) => receiveMessages(t, messages, this.session.username));
    if (room === this.room) this.markRead();
  }

  // ---- read marker ---------------------------------------------------------

  /** The newest message shown in the open room is read: tell the server (throttled). */
  private markRead(): void {
    if (this.markTimer !== null || !this.socket.isOpen) return;
    const wait = this.lastMarkAt + (this.options.markReadIntervalMs ?? 2_000) - this.now();
    if (wait > 0) {
      this.markTimer = setTimeout(() => {
        this.markTimer = null;
        this.markRead();
      }, wait);
      return;
    }
    const newest = lastId(this.timeline(this.room));
    if (newest === undefined) return;
    const marked = this.marked;
    if (marked && marked.room === this.room && marked.id >= newest) return;
    if (this.socket.send({ action: 'markRead', id: newest })) {
      this.marked = { room: this.room, id: newest };
      this.lastMarkAt = this.now();
    }
  }

  // ---- typing line ---------------------------------------------------------

  private setTypists(typists: Typists): void {
    this.typists = typists;
    if (this.typingTimer !== null) clearTimeout(this.typingTimer);
    this.typingTimer = null;
    const soonest = nextExpiry(typists);
    if (soonest === null) return;
    this.typingTimer = setTimeout(() => {
      this.typingTimer = null;
      this.setTypists(stopTyping(this.typists, this.now()));
      this.emit();
    }, Math.max(soonest - this.now(), 0));
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private newClientId(): string {
    this.clientIdCounter++;
    return `c-${this.clientIdPrefix}-${this.clientIdCounter}`;
  }

  // ---- session -------------------------------------------------------------

  /** The server refused our token and closes the connection: one refresh, then reconnect. */
  private renewAndReconnect(): void {
    const refresh = this.options.refresh;
    if (!refresh) return this.end(SESSION_REFUSED);
    if (this.refreshing) return;
    this.refreshing = true;
    void refresh().then((session) => {
      this.refreshing = false;
      if (this.ended) return;
      if (!session) return this.stop(); // the refresher has sent the reader to the login form
      this.setSession(session);
      this.socket.reconnectNow();
    });
  }

  private sessionExpired(): boolean {
    const now = this.options.now?.() ?? Date.now();
    return msUntilExpiry(this.session, now) <= 0;
  }

  private armExpiryTimer(): void {
    const now = this.options.now?.() ?? Date.now();
    const wait = Math.min(msUntilExpiry(this.session, now), MAX_TIMER_MS);
    this.expiryTimer = setTimeout(() => {
      if (this.sessionExpired()) this.end(SESSION_EXPIRED);
      else this.armExpiryTimer();
    }, Math.max(wait, 0));
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.stop();
    this.options.onSessionEnded(reason);
  }

  // ---- state ---------------------------------------------------------------

  private timeline(room: string): Timeline {
    let timeline = this.timelines.get(room);
    if (!timeline) {
      timeline = emptyTimeline(room);
      this.timelines.set(room, timeline);
    }
    return timeline;
  }

  private update(room: string, change: (t: Timeline) => Timeline): void {
    this.timelines.set(room, change(this.timeline(room)));
  }

  private buildSnapshot(): ChatSnapshot {
    return {
      status: this.status,
      retryInMs: this.retryInMs,
      room: this.room,
      timeline: this.timeline(this.room),
      loadingOlder: this.hasRequest('older', this.room),
      notice: this.notice,
      members: this.members,
      occupancy: this.occupancy,
      typing: typingLine(this.typists),
    };
  }

  private emit(): void {
    this.snapshot = this.buildSnapshot();
    for (const listener of this.listeners) listener();
  }
}

/** A short random tag so clientIds differ across tabs and reloads. */
function randomTag(): string {
  const bytes = new Uint8Array(6);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(36).padStart(2, '0')).join('');
}
