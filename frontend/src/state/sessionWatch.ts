// The session as the chat connection sees it: it ends at its expiry (one timer,
// re-armed past setTimeout's ceiling), a token the server refuses gets one
// renewal before the session ends, and handshakes that keep failing while the
// server answers /health (browsers hide the handshake's 401) mean a refused
// token, or a room that refuses us. Its timer is cancelled by stop().
import { type Session, msUntilExpiry } from './session';

export const SESSION_EXPIRED = 'Your session has expired. Please log in again.';
export const SESSION_REFUSED = 'The server no longer accepts your session. Please log in again.';

// Handshakes failing this many times in a row while the server answers HTTP
// suggest the token itself is refused (browsers do not expose the 401).
export const REFUSALS_BEFORE_LOGOUT = 3;
// setTimeout's ceiling (~24.8 days); longer sessions re-arm the timer.
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface SessionWatchOptions {
  session: Session;
  /** Close the chat for good (socket, timers), without a word. */
  close: () => void;
  /** The session can no longer be used: back to the login form, saying why. */
  onSessionEnded: (reason: string) => void;
  /** Dial again at once (a renewed token, or one more try). */
  reconnect: () => void;
  /** Whether the connection is live now (a late /health answer changes nothing then). */
  isLive: () => boolean;
  /** The handshake may be refused by the room, not the token: go elsewhere; false if already in the default room. */
  leaveRefusingRoom: () => boolean;
  /** Whether the server answers at all: tells "token refused" from "server down". */
  checkServerUp?: () => Promise<boolean>;
  /** A fresh session after the server said `unauthorized` (null: it cannot be renewed, already reported). */
  refresh?: () => Promise<Session | null>;
  now?: () => number;
}

export class SessionWatch {
  private current: Session;
  private ended = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** A refresh asked for by an `unauthorized` frame is under way. */
  private refreshing = false;
  /** The server answered /health while a handshake failed; one more failure ends the session. */
  private refusalSuspected = false;

  constructor(private readonly options: SessionWatchOptions) {
    this.current = options.session;
  }

  get session(): Session {
    return this.current;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Watch from now on; false (and the session ended) when it has expired already. */
  start(): boolean {
    this.ended = false;
    if (this.expired()) {
      this.end(SESSION_EXPIRED);
      return false;
    }
    this.arm();
    return true;
  }

  /** Use a renewed session from now on. */
  setSession(session: Session): void {
    if (session.token === this.current.token) return;
    this.current = session;
    if (this.ended) return;
    this.arm();
  }

  stop(): void {
    this.ended = true;
    this.clear();
  }

  /** A handshake went through: no refusal is suspected any more. */
  opened(): void {
    this.refusalSuspected = false;
  }

  /** The server refused our token and closes the connection: one refresh, then reconnect. */
  unauthorized(): void {
    const refresh = this.options.refresh;
    if (!refresh) return this.end(SESSION_REFUSED);
    if (this.refreshing) return;
    this.refreshing = true;
    void refresh().then((session) => {
      this.refreshing = false;
      if (this.ended) return;
      if (!session) return this.options.close(); // the refresher has sent the reader to the login form
      this.setSession(session);
      this.options.reconnect();
    });
  }

  /** The handshake failed `failures` times in a row. */
  handshakeFailed(failures: number): void {
    if (this.expired()) return this.end(SESSION_EXPIRED);
    const checkServerUp = this.options.checkServerUp;
    if (failures < REFUSALS_BEFORE_LOGOUT || !checkServerUp) return;
    void checkServerUp().then((up) => {
      if (!up || this.ended || this.options.isLive()) return;
      // A private room we were removed from refuses the handshake (403): try the default room.
      if (this.options.leaveRefusingRoom()) return this.options.reconnect();
      // The server may have come back just after that attempt failed: only a
      // second refusal while it answers, tried at once, ends the session.
      // (A token refused at the handshake gets the same one renewal as an
      // `unauthorized` frame; only if that fails does the session end.)
      if (this.refusalSuspected) return this.unauthorized();
      this.refusalSuspected = true;
      this.options.reconnect();
    });
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.options.close();
    this.options.onSessionEnded(reason);
  }

  private expired(): boolean {
    return msUntilExpiry(this.current, this.now()) <= 0;
  }

  private arm(): void {
    this.clear();
    const wait = Math.min(msUntilExpiry(this.current, this.now()), MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.expired()) this.end(SESSION_EXPIRED);
      else this.arm();
    }, Math.max(wait, 0));
  }

  private clear(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }
}
