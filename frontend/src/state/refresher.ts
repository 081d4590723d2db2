// Keeps the session's access token fresh: it is renewed (POST /refresh with the
// one-time refresh token) once less than REFRESH_WHEN_LEFT_MS of it is left, and
// on demand when the server says the token is no longer good (`unauthorized`).
// A renewal the server refuses (401) ends the session: back to the login form.
// One that cannot reach the server, or is throttled (429, 5xx), is tried again
// later for as long as the session itself lasts.
import { HttpError } from '../api/httpError';
import { type Session, msUntilAccessExpiry, msUntilExpiry } from './session';

/** Renew when less than this is left of the access token (it lives 15 minutes). */
export const REFRESH_WHEN_LEFT_MS = 2 * 60 * 1000;
/** After a failure to reach the server (or a throttled answer), try again this much later. */
export const RETRY_AFTER_MS = 15 * 1000;
// setTimeout's ceiling (~24.8 days).
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RefresherOptions {
  /** A new pair for the current session (renewal.ts: the stored refresh token, under a lock). */
  refresh: () => Promise<Session>;
  /** A new session was issued: use it from now on. */
  onRefreshed: (session: Session) => void;
  /** The session cannot be renewed: back to the login form, saying why. */
  onFailed: (reason: string) => void;
  now?: () => number;
}

function worthRetrying(error: unknown): boolean {
  if (!(error instanceof HttpError)) return false;
  return error.status === undefined || error.status === 429 || error.status >= 500;
}

export class SessionRefresher {
  private readonly options: RefresherOptions;
  private session: Session | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inflight: Promise<Session | null> | null = null;

  constructor(options: RefresherOptions) {
    this.options = options;
  }

  /** Watch this session: renew its access token when it gets close to its expiry. */
  start(session: Session): void {
    this.session = session;
    this.arm(Math.max(msUntilAccessExpiry(session, this.now()) - REFRESH_WHEN_LEFT_MS, 0));
  }

  stop(): void {
    this.session = null;
    this.clear();
  }

  /** Renew now (one request however many ask at once); null when it cannot be renewed. */
  refreshNow(): Promise<Session | null> {
    if (this.inflight) return this.inflight;
    const session = this.session;
    if (!session) return Promise.resolve(null);
    this.clear();
    this.inflight = this.options
      .refresh()
      .then(
        (next) => {
          if (this.session !== session) return null; // stopped meanwhile
          this.start(next);
          this.options.onRefreshed(next);
          return next;
        },
        (error: unknown) => {
          if (this.session !== session) return null;
          if (worthRetrying(error) && msUntilExpiry(session, this.now()) > RETRY_AFTER_MS) {
            this.arm(RETRY_AFTER_MS); // the session itself still lasts: try again later
            return session; // (null would mean "ended": the chat would stop)
          }
          this.stop();
          this.options.onFailed(error instanceof Error ? error.message : String(error));
          return null;
        },
      )
      .finally(() => {
        this.inflight = null;
      });
    return this.inflight;
  }

  private arm(waitMs: number): void {
    this.clear();
    this.timer = setTimeout(() => void this.refreshNow(), Math.min(waitMs, MAX_TIMER_MS));
  }

  private clear(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }
}
