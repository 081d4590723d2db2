// The one error of a REST call that failed (src/api): the server answered an
// error status, or could not be reached (no status). Its message is words a
// person can act on; callers decide by `status` (401: the session is over,
// 403: not allowed, 429 and 5xx: try again later) and `retryAfterMs`.

export class HttpError extends Error {
  /** The HTTP status the server answered; undefined when it could not be reached. */
  readonly status?: number;
  /** Milliseconds the server asked us to wait (Retry-After), when it said. */
  readonly retryAfterMs?: number;

  constructor(message: string, status?: number, retryAfterMs?: number) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }

  /** An error answer, with its Retry-After (seconds, as PROTOCOL.md's 429s and API Gateway's throttles send it). */
  static from(response: Response, message: string): HttpError {
    const seconds = Number(response.headers.get('Retry-After'));
    const wait = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
    return new HttpError(message, response.status, wait);
  }
}

/** The server's own words in an error body (`{"Message": …}`, as Chalice sends them), or "". */
export function serverMessage(body: unknown): string {
  const message = (body as { Message?: unknown } | null)?.Message;
  return typeof message === 'string' ? message : '';
}
