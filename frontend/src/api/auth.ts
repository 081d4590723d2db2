// Sign up and log in over the REST API, turning every failure into a sentence
// a person can act on.
import type { Session } from '../state/session';

export type AuthMode = 'login' | 'signup';

export class AuthError extends Error {}

/** What the reader should read for a failed call, by HTTP status. */
export function describeAuthFailure(mode: AuthMode, status: number, serverMessage: string): string {
  switch (status) {
    case 400:
      return serverMessage
        ? `The server did not accept that: ${serverMessage}`
        : 'The server did not accept that username or password.';
    case 401:
      return 'Wrong username or password.';
    case 409:
      return 'That username is taken. Choose another, or log in if it is yours.';
    case 429:
      return 'Too many failed attempts. Wait a few minutes, then try again.';
    default:
      return `Could not ${mode === 'login' ? 'log in' : 'sign up'}: the server answered ${status}. Try again in a moment.`;
  }
}

function isSession(value: unknown): value is Session {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.username === 'string' && typeof v.token === 'string' && typeof v.expiresAt === 'string'
  );
}

/** POST {apiUrl}/login or /signup; the new session, or an AuthError saying why not. */
export async function authenticate(
  apiUrl: string,
  mode: AuthMode,
  username: string,
  password: string,
  fetchImpl: typeof fetch = fetch,
): Promise<Session> {
  let response: Response;
  try {
    response = await fetchImpl(`${apiUrl}/${mode}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
  } catch {
    throw new AuthError('Cannot reach the server. Check your connection and try again.');
  }
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // Non-JSON bodies (a proxy's error page) fall through to the status text.
  }
  if (!response.ok) {
    const message =
      typeof body === 'object' && body !== null && typeof (body as { Message?: unknown }).Message === 'string'
        ? (body as { Message: string }).Message
        : '';
    throw new AuthError(describeAuthFailure(mode, response.status, message));
  }
  if (!isSession(body)) throw new AuthError('The server sent an unexpected answer. Try again.');
  return { username: body.username, token: body.token, expiresAt: body.expiresAt };
}
