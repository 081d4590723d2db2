// History pages (`getMessages`): the newest page of a room entered for the
// first time, and older pages as the reader scrolls up. Catching up is
// getChanges' job (./revisions).
//
// Requests go out one at a time: a `messages` frame names its room but not
// which request it answers, so with one request in flight the answer is
// unambiguous even where API Gateway may run frames' Lambdas concurrently.
// A request with no answer at all means a dead connection (it is dropped, and
// the reopen re-syncs); a newest page answered with an error is asked again
// with backoff and jitter, never taken as loaded; a frame the stage throttled
// is asked again shortly. Every timer here is cancelled by disconnected()/stop().
import { HISTORY_MAX } from '../limits';
import { type BackoffPolicy, backoffDelay } from '../connection/backoff';
import type { Link } from '../connection/socket';
import { CHANGES_BACKOFF } from './revisions';

export type HistoryKind = 'newest' | 'older';

export interface HistoryRequest {
  kind: HistoryKind;
  room: string;
  before?: string;
  after?: string;
}

/** A history request the stage throttled is asked again this much later. */
export const THROTTLED_RETRY_MS = 2_000;
export const REQUEST_TIMEOUT_MS = 15_000;

export interface HistoryOptions {
  link: Link;
  /** Whether a newest page that failed is still wanted when its retry is due (room open, not loaded). */
  stillWanted: (request: HistoryRequest) => boolean;
  /** How long a request may wait for its answer before the connection counts as dead. */
  requestTimeoutMs?: number;
  /** Delays before a newest page answered with an error is asked again. */
  backoff?: BackoffPolicy;
  random?: () => number;
}

export class HistoryRequests {
  private inflight: HistoryRequest | null = null;
  private queue: HistoryRequest[] = [];
  /** getMessages answered with an error this many times in a row (for the backoff). */
  private failures = 0;
  private requestTimer: ReturnType<typeof setTimeout> | null = null;
  /** Newest pages asked again later, and the throttled request's pause. */
  private readonly retryTimers = new Set<ReturnType<typeof setTimeout>>();

  constructor(private readonly options: HistoryOptions) {}

  ask(request: HistoryRequest): void {
    this.queue.push(request);
    this.pump();
  }

  /** Whether a request of this kind for this room is in flight or queued. */
  has(kind: HistoryKind, room: string): boolean {
    const match = (r: HistoryRequest | null) => r !== null && r.kind === kind && r.room === room;
    return match(this.inflight) || this.queue.some(match);
  }

  /**
   * A `messages` frame for `room`: when it answers the request in flight, `handle`
   * gets that request and the next one goes out after it; false when it is not
   * the answer we wait for (its messages are still real).
   */
  answered(room: string, handle: (request: HistoryRequest) => void): boolean {
    const request = this.inflight;
    if (!request || request.room !== room) return false;
    this.clearRequest();
    this.failures = 0;
    handle(request);
    this.pump();
    return true;
  }

  /** getMessages was answered with an error: the newest page is asked again later; an older one is the reader's to ask again. */
  failed(): void {
    const request = this.inflight;
    if (!request) return;
    this.clearRequest();
    if (request.kind === 'newest') {
      const wait = backoffDelay(this.failures++, this.options.backoff ?? CHANGES_BACKOFF, this.options.random);
      this.later(wait, () => {
        if (this.options.stillWanted(request) && !this.has('newest', request.room)) this.ask(request);
      });
    }
    this.pump();
  }

  /** The stage throttled a frame (its error names none): ask again shortly rather than time out and reconnect. */
  throttled(): void {
    const request = this.inflight;
    if (!request) return;
    this.clearRequest();
    this.queue.unshift(request);
    this.later(THROTTLED_RETRY_MS, () => this.pump());
  }

  /** Another room is open: forget what was queued for the others. */
  keepOnly(room: string): void {
    this.queue = this.queue.filter((r) => r.room === room);
  }

  /** The connection is gone: whatever was in flight or queued died with it (the reopen re-syncs). */
  disconnected(): void {
    this.clearRequest();
    this.queue = [];
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
  }

  private pump(): void {
    if (this.inflight || !this.options.link.isOpen) return;
    const next = this.queue.shift();
    if (!next) return;
    this.inflight = next;
    this.options.link.send({
      action: 'getMessages',
      limit: HISTORY_MAX,
      ...(next.before !== undefined && { before: next.before }),
      ...(next.after !== undefined && { after: next.after }),
    });
    this.requestTimer = setTimeout(
      () => this.options.link.drop(),
      this.options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    );
  }

  private later(wait: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      run();
    }, wait);
    this.retryTimers.add(timer);
  }

  private clearRequest(): void {
    if (this.requestTimer !== null) clearTimeout(this.requestTimer);
    this.requestTimer = null;
    this.inflight = null;
  }
}
