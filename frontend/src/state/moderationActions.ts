// What the site's room and moderation controls do: each call goes to the API,
// and its outcome becomes a room to open, a line of status, or a changed set
// of blocked names. Plain TypeScript (the view only wires it), tested alone.
import { HttpError } from '../api/httpError';
import type { ModerationApi } from '../api/moderation';
import { DEFAULT_ROOM } from '../limits';

export interface ModerationHost {
  api: Pick<ModerationApi, 'createRoom' | 'invite' | 'remove' | 'openDirect' | 'block' | 'report' | 'directory' | 'reports'>;
  /** Open this room (and refresh the rooms list). */
  enter: (room: string) => void;
  refreshRooms: () => void;
  /** A line for the reader (null clears it). */
  status: (line: string | null) => void;
  /** The blocked names changed (lower-cased). */
  blocked: (change: (old: ReadonlySet<string>) => ReadonlySet<string>) => void;
}

/** A failed call's words (HttpError carries them), or null on success. */
export async function outcome(call: Promise<unknown>): Promise<string | null> {
  try {
    await call;
    return null;
  } catch (error) {
    return error instanceof HttpError ? error.message : String(error);
  }
}

/** Where the reader goes after leaving a room. */
export function roomAfterLeaving(room: string): string {
  return room === DEFAULT_ROOM ? 'random' : DEFAULT_ROOM;
}

export function moderationActions(host: ModerationHost) {
  const { api } = host;
  return {
    /** Create a room and open it; the failure's words, or null. */
    create: async (room: string, kind: 'public' | 'private'): Promise<string | null> => {
      const failure = await outcome(api.createRoom(room, kind));
      if (!failure) host.enter(room);
      return failure;
    },
    invite: (room: string) => async (username: string): Promise<string | null> => {
      const failure = await outcome(api.invite(room, username));
      host.refreshRooms();
      return failure;
    },
    leave: async (room: string, me: string): Promise<void> => {
      const failure = await outcome(api.remove(room, me));
      if (failure) return host.status(failure);
      host.enter(roomAfterLeaving(room));
    },
    /** Open (or create) the direct room with this person. */
    message: async (username: string): Promise<void> => {
      try {
        host.enter(await api.openDirect(username));
      } catch (error) {
        host.status((error as Error).message);
      }
    },
    remove: (room: string) => async (username: string): Promise<void> => {
      const failure = await outcome(api.remove(room, username));
      host.status(failure ?? `${username} was removed from #${room}.`);
    },
    block: async (username: string, block: boolean): Promise<void> => {
      const failure = await outcome(api.block(username, block));
      if (failure) return host.status(failure);
      host.blocked((old) => {
        const next = new Set(old);
        if (block) next.add(username.toLowerCase());
        else next.delete(username.toLowerCase());
        return next;
      });
      host.status(block ? `You blocked ${username}: their messages are hidden.` : `You unblocked ${username}.`);
    },
    report: (room: string, id: string) => (reason: string) => outcome(api.report(room, id, reason)),
    search: (prefix: string) => api.directory(prefix),
    reports: () => api.reports(),
  };
}
