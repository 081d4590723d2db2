// The protocol limits, imported at build time from the repository's one copy
// (chalicelib/limits.json) so the browser and the backend can never disagree.
import limits from '../../chalicelib/limits.json';

export const USERNAME_MIN: number = limits.username_min;
export const USERNAME_MAX: number = limits.username_max;
export const USERNAME_PATTERN = new RegExp(limits.username_pattern);
export const PASSWORD_MIN: number = limits.password_min;
export const PASSWORD_MAX: number = limits.password_max;
export const ROOM_MIN: number = limits.room_min;
export const ROOM_MAX: number = limits.room_max;
export const ROOM_PATTERN = new RegExp(limits.room_pattern);
export const DEFAULT_ROOM: string = limits.default_room;
export const TEXT_MAX: number = limits.text_max;
export const CLIENT_ID_MAX: number = limits.client_id_max;
export const FRAME_MAX_BYTES: number = limits.frame_max_bytes;
export const HISTORY_MAX: number = limits.history_max;
export const CHANGES_MAX: number = limits.changes_max;
export const IDLE_TIMEOUT_MS: number = limits.idle_timeout_seconds * 1000;
export const TYPING_INTERVAL_MS: number = limits.typing_interval_seconds * 1000;
export const TYPING_DISPLAY_MS: number = limits.typing_display_seconds * 1000;
export const ROOMS_REFRESH_MS: number = limits.rooms_refresh_seconds * 1000;
export const UNREAD_MAX: number = limits.unread_max;
export const REPORT_REASON_MAX: number = limits.report_reason_max;

/** Length as the server counts it: Unicode code points, not UTF-16 units. */
export function textLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Why a username would be refused, or null when it is acceptable. */
export function usernameProblem(username: string): string | null {
  const n = textLength(username);
  if (n < USERNAME_MIN || n > USERNAME_MAX) {
    return `Usernames are ${USERNAME_MIN} to ${USERNAME_MAX} characters long.`;
  }
  if (!USERNAME_PATTERN.test(username)) {
    return 'Usernames use only letters, digits, and the characters _ . -';
  }
  return null;
}

/** Why a password would be refused, or null when it is acceptable. */
export function passwordProblem(password: string): string | null {
  const n = textLength(password);
  if (n < PASSWORD_MIN) return `Passwords have at least ${PASSWORD_MIN} characters.`;
  if (n > PASSWORD_MAX) return `Passwords have at most ${PASSWORD_MAX} characters.`;
  return null;
}

/** Room names as typed are lower-cased and trimmed: "Random " joins "random". */
export function normalizeRoom(input: string): string {
  return input.trim().toLowerCase();
}

/** Why a (normalized) room name would be refused, or null when it is acceptable. */
export function roomProblem(room: string): string | null {
  const n = textLength(room);
  if (n < ROOM_MIN || n > ROOM_MAX || !ROOM_PATTERN.test(room)) {
    return `Room names are ${ROOM_MIN} to ${ROOM_MAX} characters: a–z, 0–9, _ and -.`;
  }
  return null;
}

/** Why a message text would be refused, or null when it can be sent. */
export function textProblem(text: string): string | null {
  const n = textLength(text.trim());
  if (n === 0) return 'Type a message first.';
  if (n > TEXT_MAX) return `Messages are at most ${TEXT_MAX} characters (this one has ${n}).`;
  return null;
}
