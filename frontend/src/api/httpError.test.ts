import { describe, expect, it } from 'vitest';
import { HttpError, serverMessage } from './httpError';

describe('HttpError', () => {
  it('keeps the status and the Retry-After of an error answer', () => {
    const answer = new Response('', { status: 429, headers: { 'Retry-After': '45' } });
    const error = HttpError.from(answer, 'Too fast.');
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ message: 'Too fast.', status: 429, retryAfterMs: 45_000 });
    expect(HttpError.from(new Response('', { status: 503, headers: { 'Retry-After': 'soon' } }), 'x').retryAfterMs)
      .toBeUndefined();
  });

  it('has no status when the server could not be reached', () => {
    expect(new HttpError('Cannot reach the server.').status).toBeUndefined();
  });
});

describe('serverMessage', () => {
  it("reads Chalice's error body, and nothing else", () => {
    expect(serverMessage({ Code: 'BadRequestError', Message: 'name taken' })).toBe('name taken');
    expect(serverMessage({ Message: 7 })).toBe('');
    expect(serverMessage(null)).toBe('');
    expect(serverMessage('<html>')).toBe('');
  });
});
