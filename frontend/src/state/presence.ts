// Who is in the room and who is typing, as plain values: the members list
// (a `members` answer, then kept live by `presence` frames) and the typing line
// (each `typing` frame shows its user for TYPING_DISPLAY_MS, or until their
// message arrives). Every function returns a new value and never mutates.
import { TYPING_DISPLAY_MS } from '../limits';
import { isMe } from './messages';

/** Online users of one room, sorted ignoring case (as the server sorts them). */
export interface Members {
  room: string;
  names: readonly string[];
}

export function noMembers(room: string): Members {
  return { room, names: [] };
}

function sorted(names: Iterable<string>): string[] {
  return [...names].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()) || a.localeCompare(b));
}

/** The list from a `members` answer. */
export function membersFrom(room: string, names: readonly string[]): Members {
  return { room, names: sorted(new Set(names)) };
}

/** The list after a `presence` frame for its room. */
export function applyPresence(members: Members, username: string, online: boolean): Members {
  const others = members.names.filter((n) => !isMe(n, username));
  if (!online) return others.length === members.names.length ? members : { ...members, names: others };
  if (others.length < members.names.length) return members;
  return { ...members, names: sorted([...others, username]) };
}

/** Who is typing: username → when their line goes away (ms since the epoch). */
export type Typists = ReadonlyMap<string, number>;

export function someoneTyping(typists: Typists, username: string, now: number): Typists {
  const next = new Map(typists);
  next.set(username, now + TYPING_DISPLAY_MS);
  return next;
}

/** Without this user (their message arrived) and without lines whose time is up. */
export function stopTyping(typists: Typists, now: number, username?: string): Typists {
  let changed = false;
  const next = new Map<string, number>();
  for (const [name, until] of typists) {
    if (until <= now || (username !== undefined && isMe(name, username))) changed = true;
    else next.set(name, until);
  }
  return changed ? next : typists;
}

/** The soonest moment a line goes away, or null. */
export function nextExpiry(typists: Typists): number | null {
  let soonest: number | null = null;
  for (const until of typists.values()) if (soonest === null || until < soonest) soonest = until;
  return soonest;
}

/** "alice is typing…", "alice and bob are typing…", "alice, bob and carol are typing…". */
export function typingLine(typists: Typists): string {
  const names = sorted(typists.keys());
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length > 3) return 'Several people are typing…';
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are typing…`;
}
