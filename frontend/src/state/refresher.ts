// Keeps the session's token fresh: it is renewed (POST /refresh) once less than
// an hour of it is left, at once if that is already so when the page loads, and
// on demand when the server says the token is no longer good (`unauthorized`).
import { AuthError } from '../api/auth';
import { type Session, msUntilExpiry } from './session';

/** Renew when less than this is left (tokens live 12 hours). */
export const REFRESH_WHEN_LEFT_MS = 60 * 60 * 1000;
/** After a failure to reach the server, try again this much later. */
export const RETRY_AFTER_MS = 60 * 1000;
// setTimeout's ceiling (~24.8 days).
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RefresherOptions {
  refresh: (token: string) => Promise<Session>;
  /** A new session was issued: store it and use it from now on. */
  onRefreshed: (session: Session) => void;
  /** The session cannot be renewed: back to the login form, saying why. */
  onFailed: (reason: string) => void;
  now?: () => number;
}

export class SessionRefresher {
  private readonly options: RefresherOptions;
  private session: Session | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inflight: Promise<Session | null> | null = null;

  constructor(options: RefresherOptions) {
    this.options = options;
  }

  /** Watch this session: renew it when it gets close to its expiry. */
  start(session: Session): void {
    this.session = session;
    this.arm(Math.max(msUntilExpiry(session, this.now()) - REFRESH_WHEN_LEFT_MS, 0));
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
      .refresh(session.token)
      .then(
        (next) => {
          if (this.session !== session) return null; // stopped meanwhile
          this.start(next);
          this.options.onRefreshed(next);
          return next;
        },
        (error: unknown) => {
          if (this.session !== session) return null;
          const unreachable = error instanceof AuthError && error.status === undefined;
          if (unreachable && msUntilExpiry(session, this.now()) > RETRY_AFTER_MS) {
            this.arm(RETRY_AFTER_MS); // the token still works: try again later
            return session;
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
