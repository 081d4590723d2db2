// A REST call the server answered with an error status, with its Retry-After
// (seconds, as PROTOCOL.md's 429s and API Gateway's throttles send it).

export class HttpError extends Error {
  readonly status: number;
  /** Milliseconds the server asked us to wait, when it said. */
  readonly retryAfterMs?: number;

  constructor(what: string, status: number, retryAfterMs?: number) {
    super(`${what} answered ${status}`);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }

  static from(response: Response, what: string): HttpError {
    const seconds = Number(response.headers.get('Retry-After'));
    const wait = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
    return new HttpError(what, response.status, wait);
  }
}
