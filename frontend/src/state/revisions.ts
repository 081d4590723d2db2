// Order and catch-up (PROTOCOL.md v3) for one room: which revision the reader
// has applied, when a `getChanges` is due, and what to do with its answer.
//
// Every change to a room (message, edit, delete) has the room's next revision,
// 1, 2, 3, … A live frame one past the last applied revision moves it on; a
// frame further ahead means something was missed (a lost frame, a redelivery
// out of order, a connection that dropped): its change is shown at once, and
// `getChanges` from the last applied revision fills the gap, page after page.
// An error answer (rate_limited, internal) is asked again after a jittered,
// growing delay: it never counts as caught up; a request with no answer at all
// means a dead connection (`onTimeout`: the caller drops it, the reopen asks
// again). Nothing here touches the socket or the timeline; the caller hands in
// what to do. RoomRevisions keeps one RevisionSync per room and ends them all.
import { type BackoffPolicy, backoffDelay } from '../connection/backoff';
import type { ChatMessage } from '../protocol';
import { type Timeline, isMe, isLaterVersion } from './messages';

export const CHANGES_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 15_000 };

export interface RevisionSyncOptions {
  /** Send `getChanges {sinceRev}`; false when it could not go out (socket closed). */
  request: (sinceRev: number) => boolean;
  /** The messages of a `changes` page, for the timeline. */
  apply: (messages: readonly ChatMessage[]) => void;
  /** Caught up: every revision up to `rev` is applied. */
  onSynced: (rev: number) => void;
  backoff?: BackoffPolicy;
  random?: () => number;
  /** No answer to a getChanges within timeoutMs (default 15 s): the connection looks dead. */
  onTimeout?: () => void;
  timeoutMs?: number;
}

export class RevisionSync {
  /** The last revision applied with everything before it. */
  private appliedRev = 0;
  /** Whether appliedRev stands for the room (after the first page of history). */
  private known = false;
  /** Revisions seen live beyond appliedRev (something between is missing). */
  private readonly ahead = new Set<number>();
  /** A revision seen live but not applied (a delete of a message not held): get it by getChanges. */
  private mustReach = 0;
  private inflight = false;
  private failures = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private answerTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly options: RevisionSyncOptions) {}

  get applied(): number {
    return this.appliedRev;
  }

  /** A catch-up is asked or waiting to be asked again. */
  get busy(): boolean {
    return this.inflight || this.retryTimer !== null;
  }

  /** The history page is in: revisions up to `rev` are reflected; ask for the rest. */
  start(rev: number): void {
    this.known = true;
    this.appliedRev = Math.max(this.appliedRev, rev);
    this.advance();
    this.catchUp();
  }

  /** A live frame carried `rev` (its change is applied by the caller already). */
  seen(rev: number): void {
    if (rev <= this.appliedRev) return; // a redelivery: nothing new
    this.ahead.add(rev);
    if (!this.known) return; // the first page will say where the room is
    this.advance();
    if (this.ahead.size > 0) this.catchUp();
  }

  /**
   * A live frame carried `rev` but its change could not be applied (a delete of
   * a message not held yet): the revision counts as missed until getChanges brings it.
   */
  missed(rev: number): void {
    if (rev <= this.appliedRev) return;
    this.mustReach = Math.max(this.mustReach, rev);
    this.catchUp();
  }

  /** Ask what changed since the last applied revision (a reconnect, a tab shown again, a gap). */
  catchUp(): void {
    if (!this.known || this.busy) return;
    this.inflight = this.options.request(this.appliedRev);
    const onTimeout = this.options.onTimeout;
    if (!this.inflight || !onTimeout) return;
    this.clearAnswerTimer();
    this.answerTimer = setTimeout(onTimeout, this.options.timeoutMs ?? 15_000);
  }

  /** The answer to our getChanges. */
  onChanges(messages: readonly ChatMessage[], rev: number, hasMore: boolean): void {
    this.clearAnswerTimer();
    this.options.apply(messages);
    if (!this.inflight) return; // not ours (a late answer from before a reconnect)
    this.inflight = false;
    this.failures = 0;
    // With hasMore, `rev` is the last message's: every change up to it is in.
    // Without, it is the room's newest revision: authoritative either way.
    this.appliedRev = hasMore ? Math.max(this.appliedRev, rev) : rev;
    for (const r of this.ahead) if (r <= this.appliedRev) this.ahead.delete(r);
    this.advance();
    if (hasMore || this.ahead.size > 0 || this.appliedRev < this.mustReach) {
      this.catchUp();
      return;
    }
    this.options.onSynced(this.appliedRev);
  }

  /** An error answered our getChanges: ask again later, with backoff and jitter. */
  onError(): void {
    this.clearAnswerTimer();
    if (!this.inflight) return;
    this.inflight = false;
    const wait = backoffDelay(this.failures++, this.options.backoff ?? CHANGES_BACKOFF, this.options.random);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.catchUp();
    }, wait);
  }

  /** The connection is gone: whatever was asked died with it (the reopen asks again). */
  disconnected(): void {
    this.inflight = false;
    this.failures = 0;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.clearAnswerTimer();
  }

  private clearAnswerTimer(): void {
    if (this.answerTimer !== null) clearTimeout(this.answerTimer);
    this.answerTimer = null;
  }

  private advance(): void {
    while (this.ahead.has(this.appliedRev + 1)) {
      this.appliedRev++;
      this.ahead.delete(this.appliedRev);
    }
    for (const r of this.ahead) if (r <= this.appliedRev) this.ahead.delete(r);
  }
}

/** One RevisionSync per room, made on first use; `disconnected()` ends what each has asked. */
export class RoomRevisions {
  private readonly rooms = new Map<string, RevisionSync>();

  constructor(private readonly make: (room: string) => RevisionSync) {}

  of(room: string): RevisionSync {
    let sync = this.rooms.get(room);
    if (!sync) {
      sync = this.make(room);
      this.rooms.set(room, sync);
    }
    return sync;
  }

  /** The connection is gone (or the client stops): no getChanges is in flight or waiting any more. */
  disconnected(): void {
    for (const sync of this.rooms.values()) sync.disconnected();
  }
}

/** The highest revision among messages (0 for none): where a history page leaves the reader. */
export function newestRev(messages: readonly ChatMessage[]): number {
  return messages.reduce((rev, m) => Math.max(rev, m.rev ?? 0), 0);
}

/**
 * The timeline with changed messages applied: each replaces the version held
 * when it is later (by revision), and one not held is placed by its seq unless
 * it is older than the oldest message loaded while older history exists (it
 * is shown as it is when that page is loaded). Our own pending messages that
 * a change confirms (same clientId) are no longer pending. Never a duplicate.
 */
export function applyChanges(timeline: Timeline, changes: readonly ChatMessage[], me: string): Timeline {
  if (changes.length === 0) return timeline;
  const held = new Map(timeline.messages.map((m) => [m.id, m]));
  const oldest = timeline.messages[0]?.id;
  let changed = false;
  for (const m of changes) {
    const mine = held.get(m.id);
    if (mine ? !isLaterVersion(m, mine) : timeline.hasOlder && oldest !== undefined && m.id < oldest) continue;
    held.set(m.id, m);
    changed = true;
  }
  const confirmed = new Set(
    changes.filter((m) => m.clientId !== undefined && isMe(m.sender, me)).map((m) => m.clientId),
  );
  const pending = confirmed.size ? timeline.pending.filter((p) => !confirmed.has(p.clientId)) : timeline.pending;
  if (!changed && pending === timeline.pending) return timeline;
  const messages = changed
    ? [...held.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    : timeline.messages;
  return { ...timeline, messages, pending };
}
