// A room's timeline as the reader sees it: confirmed messages de-duplicated and
// ordered by id (ids sort as plain strings in storage order), followed by the
// reader's own messages still waiting for their echo. Every function returns a
// new value and never mutates its input, so React can compare by reference.
import type { ChatMessage } from '../protocol';

export type PendingState = 'pending' | 'failed';

export interface PendingMessage {
  clientId: string;
  room: string;
  text: string;
  state: PendingState;
  /** Why it failed, in words for the reader (only when state is 'failed'). */
  error?: string;
}

export interface Timeline {
  room: string;
  /** Confirmed messages, oldest first, unique by id. */
  messages: readonly ChatMessage[];
  /** Own messages sent (or queued) but not yet echoed, in the order typed. */
  pending: readonly PendingMessage[];
  /** Whether older messages exist on the server than the first one here. */
  hasOlder: boolean;
  /** Whether the first page of history has arrived. */
  loaded: boolean;
}

/** Usernames are unique ignoring case, so "Alice" and "alice" are one person. */
export function isMe(sender: string, me: string): boolean {
  return sender.toLowerCase() === me.toLowerCase();
}

export function emptyTimeline(room: string): Timeline {
  return { room, messages: [], pending: [], hasOlder: false, loaded: false };
}

function byId(a: ChatMessage, b: ChatMessage): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** `existing` plus `incoming`, unique by id and ordered by id. */
export function mergeMessages(
  existing: readonly ChatMessage[],
  incoming: readonly ChatMessage[],
): readonly ChatMessage[] {
  if (incoming.length === 0) return existing;
  const last = existing.at(-1);
  // Fast path for live traffic: one new message after everything we hold.
  if (incoming.length === 1 && (!last || incoming[0]!.id > last.id)) {
    return [...existing, incoming[0]!];
  }
  const seen = new Map<string, ChatMessage>();
  for (const m of existing) seen.set(m.id, m);
  let added = false;
  for (const m of incoming) {
    const held = seen.get(m.id);
    if (!held || isLaterVersion(m, held)) {
      seen.set(m.id, m);
      added = true;
    }
  }
  if (!added) return existing;
  return [...seen.values()].sort(byId);
}

/**
 * Whether `incoming` is a later state of the message than `held`: a delete is
 * final, and an edit replaces an older text. A `message` frame delivered again
 * (delivery is at least once) never undoes an edit.
 */
export function isLaterVersion(incoming: ChatMessage, held: ChatMessage): boolean {
  // Revisions order every change of a room (v3); without them, the v2 rules.
  if (incoming.rev !== undefined && held.rev !== undefined) return incoming.rev > held.rev;
  if (held.deleted) return false;
  if (incoming.deleted) return true;
  return (incoming.editedAt ?? '') > (held.editedAt ?? '');
}

/** The timeline with a message edited (messageUpdated); unknown ids are left out. */
export function updateMessage(timeline: Timeline, message: ChatMessage): Timeline {
  const index = timeline.messages.findIndex((m) => m.id === message.id);
  if (index < 0 || !isLaterVersion(message, timeline.messages[index]!)) return timeline;
  const messages = timeline.messages.slice();
  messages[index] = message;
  return { ...timeline, messages };
}

/** The timeline with a message replaced by its tombstone (messageDeleted). */
export function deleteMessage(timeline: Timeline, id: string, rev?: number): Timeline {
  const held = timeline.messages.find((m) => m.id === id);
  if (!held || held.deleted) return timeline;
  const tombstone: ChatMessage = { id, room: held.room, sender: held.sender, sentAt: held.sentAt, text: '', deleted: true };
  if (held.seq !== undefined) tombstone.seq = held.seq;
  // A delete is final: without a revision it still replaces whatever is held.
  tombstone.rev = rev ?? (held.rev !== undefined ? held.rev + 1 : undefined);
  if (tombstone.rev === undefined) delete tombstone.rev;
  return updateMessage(timeline, tombstone);
}

/**
 * The timeline after confirmed messages arrived (a live echo or a history
 * page): stored, and any of our own pending messages they confirm (same
 * clientId, sent by us) removed.
 */
export function receiveMessages(
  timeline: Timeline,
  incoming: readonly ChatMessage[],
  me: string,
): Timeline {
  const mine = new Set(
    incoming.filter((m) => m.clientId !== undefined && isMe(m.sender, me)).map((m) => m.clientId),
  );
  const messages = mergeMessages(timeline.messages, incoming);
  const pending = mine.size
    ? timeline.pending.filter((p) => !mine.has(p.clientId))
    : timeline.pending;
  if (messages === timeline.messages && pending === timeline.pending) return timeline;
  return { ...timeline, messages, pending };
}

/** The timeline with one more of our own messages waiting for its echo. */
export function addPending(timeline: Timeline, clientId: string, text: string): Timeline {
  const entry: PendingMessage = { clientId, room: timeline.room, text, state: 'pending' };
  return { ...timeline, pending: [...timeline.pending, entry] };
}

/** The timeline with a pending message marked failed (or back to pending on retry). */
export function setPendingState(
  timeline: Timeline,
  clientId: string,
  state: PendingState,
  error?: string,
): Timeline {
  let changed = false;
  const pending = timeline.pending.map((p) => {
    if (p.clientId !== clientId) return p;
    changed = true;
    return state === 'failed' ? { ...p, state, error } : { clientId, room: p.room, text: p.text, state };
  });
  return changed ? { ...timeline, pending } : timeline;
}

/** The timeline without a pending message (the reader discarded it). */
export function removePending(timeline: Timeline, clientId: string): Timeline {
  const pending = timeline.pending.filter((p) => p.clientId !== clientId);
  return pending.length === timeline.pending.length ? timeline : { ...timeline, pending };
}

export function firstId(timeline: Timeline): string | undefined {
  return timeline.messages[0]?.id;
}

export function lastId(timeline: Timeline): string | undefined {
  return timeline.messages.at(-1)?.id;
}

/** The timeline of every room visited, kept for a quick return; a room not seen yet is empty. */
export class Timelines {
  private readonly rooms = new Map<string, Timeline>();

  get(room: string): Timeline {
    let timeline = this.rooms.get(room);
    if (!timeline) {
      timeline = emptyTimeline(room);
      this.rooms.set(room, timeline);
    }
    return timeline;
  }

  update(room: string, change: (t: Timeline) => Timeline): void {
    this.rooms.set(room, change(this.get(room)));
  }

  /** A change for every room held (an error names a clientId, not its room). */
  updateAll(change: (t: Timeline) => Timeline): void {
    for (const room of this.rooms.keys()) this.update(room, change);
  }
}
