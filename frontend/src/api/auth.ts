// Sign up and log in over the REST API, turning every failure into a sentence
// a person can act on.
import type { Session } from '../state/session';
import { HttpError, serverMessage } from './httpError';

export type AuthMode = 'login' | 'signup';

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

function isSession(value: unknown): value is Required<Session> {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.username === 'string' &&
    typeof v.token === 'string' &&
    typeof v.expiresAt === 'string' &&
    typeof v.refreshToken === 'string' &&
    typeof v.refreshExpiresAt === 'string' &&
    typeof v.deviceToken === 'string'
  );
}

function sessionOf(body: Required<Session>): Session {
  const { username, token, expiresAt, refreshToken, refreshExpiresAt, deviceToken } = body;
  return { username, token, expiresAt, refreshToken, refreshExpiresAt, deviceToken };
}

/**
 * POST {apiUrl}/login or /signup; the new session, or an HttpError saying why not.
 * A login carries this browser's device token for the name, when it has one:
 * it gets its owner past a lockout caused by guesses from elsewhere.
 */
export async function authenticate(
  apiUrl: string,
  mode: AuthMode,
  username: string,
  password: string,
  deviceToken?: string,
  fetchImpl: typeof fetch = fetch,
): Promise<Session> {
  let response: Response;
  const body = mode === 'login' && deviceToken ? { username, password, deviceToken } : { username, password };
  try {
    response = await fetchImpl(`${apiUrl}/${mode}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  } catch {
    throw new HttpError('Cannot reach the server. Check your connection and try again.');
  }
  let answer: unknown = null;
  try {
    answer = await response.json();
  } catch {
    // Non-JSON bodies (a proxy's error page) fall through to the status text.
  }
  if (!response.ok) {
    throw HttpError.from(response, describeAuthFailure(mode, response.status, serverMessage(answer)));
  }
  if (!isSession(answer)) throw new HttpError('The server sent an unexpected answer. Try again.');
  return sessionOf(answer);
}

export const REFRESH_REFUSED =
  'The server no longer accepts your session (logged out elsewhere?), and it could not be renewed. Please log in again.';

/** POST {apiUrl}/refresh {"refreshToken"} (one-time): a new pair, or an HttpError saying why not. */
export async function refreshSession(
  apiUrl: string,
  refreshToken: string,
  fetchImpl: typeof fetch = fetch,
): Promise<Session> {
  let response: Response;
  try {
    response = await fetchImpl(`${apiUrl}/refresh`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refreshToken }),
    });
  } catch {
    throw new HttpError('Cannot reach the server to renew your session.');
  }
  if (response.status === 401) throw new HttpError(REFRESH_REFUSED, 401);
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // handled below
  }
  if (!response.ok || !isSession(body)) {
    throw new HttpError(`Could not renew your session: the server answered ${response.status}.`, response.status);
  }
  return sessionOf(body);
}

/** POST {apiUrl}/logout: the server ends this session (or every one) and closes its sockets. False if unreachable. */
export async function endSession(
  apiUrl: string,
  token: string,
  fetchImpl: typeof fetch = fetch,
  everywhere = false,
): Promise<boolean> {
  try {
    const response = await fetchImpl(`${apiUrl}/logout`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: everywhere ? JSON.stringify({ everywhere: true }) : undefined,
    });
    // 401: the token was already refused, which is what logging out wants.
    return response.ok || response.status === 401;
  } catch {
    return false;
  }
}
