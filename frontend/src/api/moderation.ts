// The rooms-with-owners calls of PROTOCOL.md v3 ("Rooms: public, private,
// direct"): creating rooms, members and moderators, direct rooms, the
// directory, blocks and reports. Every failure becomes an HttpError whose
// message a person can act on.
import { HttpError, serverMessage } from './httpError';

export type RoomKind = 'public' | 'private' | 'direct';

export interface DirectoryEntry {
  room: string;
  online: number;
}

export interface Report {
  room: string;
  id: string;
  sender: string;
  text: string;
  reporter: string;
  reason: string;
  reportedAt: string;
}

/** Words for a failed call, by status (the server's own message when it has one). */
export function describeFailure(status: number, serverMessage: string): string {
  switch (status) {
    case 400:
      return serverMessage ? `Not accepted: ${serverMessage}.` : 'The server did not accept that.';
    case 401:
      return 'Your session needs renewing. Try again in a moment.';
    case 403:
      return serverMessage ? `Not allowed: ${serverMessage}.` : 'You are not allowed to do that.';
    case 404:
      return serverMessage ? `Not found: ${serverMessage}.` : 'Not found.';
    case 409:
      return 'A room with that name exists. Choose another name.';
    default:
      return `The server answered ${status}. Try again in a moment.`;
  }
}

export class ModerationApi {
  constructor(
    private readonly apiUrl: string,
    private readonly token: () => string,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {}

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.apiUrl}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${this.token()}`,
          ...(body !== undefined && { 'Content-Type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        cache: 'no-store',
      });
    } catch {
      throw new HttpError('Cannot reach the server. Check your connection and try again.');
    }
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!response.ok) throw HttpError.from(response, describeFailure(response.status, serverMessage(parsed)));
    return parsed;
  }

  createRoom(room: string, kind: 'public' | 'private'): Promise<unknown> {
    return this.call('POST', '/rooms', { room, kind });
  }

  invite(room: string, username: string): Promise<unknown> {
    return this.call('PUT', `/rooms/${encodeURIComponent(room)}/members/${encodeURIComponent(username)}`);
  }

  /** Remove (private), ban (public), or leave when `username` is the caller. */
  remove(room: string, username: string): Promise<unknown> {
    return this.call('DELETE', `/rooms/${encodeURIComponent(room)}/members/${encodeURIComponent(username)}`);
  }

  async openDirect(username: string): Promise<string> {
    const body = (await this.call('POST', '/dms', { username })) as { room?: unknown };
    if (typeof body?.room !== 'string') throw new HttpError('The server answered without a room.');
    return body.room;
  }

  async directory(prefix: string): Promise<DirectoryEntry[]> {
    const body = (await this.call('GET', `/directory?prefix=${encodeURIComponent(prefix)}`)) as { rooms?: unknown };
    if (!Array.isArray(body?.rooms)) return [];
    return body.rooms.filter(
      (r): r is DirectoryEntry => typeof r?.room === 'string' && typeof r?.online === 'number',
    );
  }

  block(username: string, blocked: boolean): Promise<unknown> {
    return this.call(blocked ? 'PUT' : 'DELETE', `/blocks/${encodeURIComponent(username)}`);
  }

  async blocked(): Promise<string[]> {
    const body = (await this.call('GET', '/blocks')) as { blocked?: unknown };
    return Array.isArray(body?.blocked) ? body.blocked.filter((n): n is string => typeof n === 'string') : [];
  }

  report(room: string, id: string, reason: string): Promise<unknown> {
    return this.call('POST', '/reports', { room, id, reason });
  }

  /** The reports (admins); null when the reader is no admin (403). */
  async reports(): Promise<Report[] | null> {
    try {
      const body = (await this.call('GET', '/reports')) as { reports?: unknown };
      return Array.isArray(body?.reports) ? (body.reports as Report[]) : [];
    } catch (error) {
      if (error instanceof HttpError && error.status === 403) return null;
      throw error;
    }
  }
}
