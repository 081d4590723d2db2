// The wire format of docs/PROTOCOL.md (version 3): frame types, the
// client frames we send, and a parser that turns server frames into typed
// values (anything malformed is dropped rather than trusted).

export interface ChatMessage {
  id: string;
  room: string;
  sender: string;
  text: string;
  sentAt: string;
  clientId?: string;
  /** Set once the sender edited it. */
  editedAt?: string;
  /** A tombstone: the sender deleted it (text is ""). */
  deleted?: boolean;
  /** The room revision that created it: history is ordered by seq (ids sort the same way). */
  seq?: number;
  /** The room revision of its latest change (v3: Order and catch-up). */
  rev?: number;
}

export type ErrorCode =
  | 'bad_request'
  | 'unknown_action'
  | 'too_large'
  | 'rate_limited'
  | 'forbidden'
  | 'not_found'
  | 'unauthorized'
  | 'internal';

export type ServerFrame =
  | { type: 'message'; message: ChatMessage }
  | { type: 'messages'; room: string; messages: ChatMessage[]; hasMore: boolean }
  | { type: 'joined'; room: string }
  | { type: 'pong' }
  | { type: 'members'; room: string; members: string[]; count: number }
  | { type: 'presence'; room: string; username: string; status: 'online' | 'offline' }
  | { type: 'typing'; room: string; username: string }
  | { type: 'occupancy'; room: string; count: number }
  | { type: 'messageUpdated'; message: ChatMessage }
  | { type: 'messageDeleted'; room: string; id: string; rev?: number }
  | { type: 'changes'; room: string; messages: ChatMessage[]; rev: number; hasMore: boolean }
  | { type: 'read'; room: string; id: string }
  | { type: 'removed'; room: string }
  | {
      type: 'error';
      code: string;
      message: string;
      action?: string;
      clientId?: string;
    };

export type ClientFrame =
  | { action: 'sendMessage'; text: string; clientId: string }
  | { action: 'getMessages'; limit?: number; before?: string; after?: string }
  | { action: 'joinRoom'; room: string }
  | { action: 'ping' }
  | { action: 'getMembers' }
  | { action: 'typing' }
  | { action: 'editMessage'; id: string; text: string; clientId: string }
  | { action: 'deleteMessage'; id: string; clientId: string }
  | { action: 'markRead'; id: string }
  | { action: 'getChanges'; sinceRev: number; limit?: number };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A message object from a frame, or null when a field is missing or mistyped. */
export function parseMessage(value: unknown): ChatMessage | null {
  if (!isRecord(value)) return null;
  const { id, room, sender, text, sentAt, clientId, editedAt, deleted, seq, rev } = value;
  if (
    typeof id !== 'string' ||
    typeof room !== 'string' ||
    typeof sender !== 'string' ||
    typeof text !== 'string' ||
    typeof sentAt !== 'string'
  ) {
    return null;
  }
  const message: ChatMessage = { id, room, sender, text, sentAt };
  if (typeof clientId === 'string') message.clientId = clientId;
  if (typeof editedAt === 'string') message.editedAt = editedAt;
  if (deleted === true) message.deleted = true;
  if (isRevision(seq)) message.seq = seq;
  if (isRevision(rev)) message.rev = rev;
  return message;
}

function isRevision(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function parseJson(data: unknown): unknown {
  if (typeof data !== 'string') return null;
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}

/** One server frame from the raw WebSocket data, or null if it is not one we know. */
export function parseServerFrame(data: unknown): ServerFrame | null {
  return frameFrom(parseJson(data));
}

/**
 * Every frame in the raw WebSocket data, in order: the frames of a `batch`
 * (the server groups a room's frames into one post; never nested), or the
 * one frame. Unknown or malformed frames are left out.
 */
export function parseServerFrames(data: unknown): ServerFrame[] {
  const value = parseJson(data);
  const frames = isRecord(value) && value.type === 'batch' && Array.isArray(value.frames) ? value.frames : [value];
  return frames.flatMap((inner) => {
    const frame = isRecord(inner) && inner.type === 'batch' ? null : frameFrom(inner);
    return frame ? [frame] : [];
  });
}

function frameFrom(value: unknown): ServerFrame | null {
  if (!isRecord(value)) return null;
  switch (value.type) {
    case 'message': {
      const message = parseMessage(value.message);
      return message ? { type: 'message', message } : null;
    }
    case 'messages': {
      if (typeof value.room !== 'string' || !Array.isArray(value.messages)) return null;
      const messages = value.messages.map(parseMessage);
      if (messages.some((m) => m === null)) return null;
      return {
        type: 'messages',
        room: value.room,
        messages: messages as ChatMessage[],
        hasMore: value.hasMore === true,
      };
    }
    case 'joined':
      return typeof value.room === 'string' ? { type: 'joined', room: value.room } : null;
    case 'pong':
      return { type: 'pong' };
    case 'members': {
      const { room, members, count } = value;
      if (typeof room !== 'string' || !Array.isArray(members) || typeof count !== 'number') return null;
      if (!members.every((m) => typeof m === 'string')) return null;
      return { type: 'members', room, members: members as string[], count };
    }
    case 'presence': {
      const { room, username, status } = value;
      if (typeof room !== 'string' || typeof username !== 'string') return null;
      if (status !== 'online' && status !== 'offline') return null;
      return { type: 'presence', room, username, status };
    }
    case 'typing':
      return typeof value.room === 'string' && typeof value.username === 'string'
        ? { type: 'typing', room: value.room, username: value.username }
        : null;
    case 'occupancy':
      return typeof value.room === 'string' && typeof value.count === 'number' && value.count >= 0
        ? { type: 'occupancy', room: value.room, count: value.count }
        : null;
    case 'messageUpdated': {
      const message = parseMessage(value.message);
      return message ? { type: 'messageUpdated', message } : null;
    }
    case 'messageDeleted':
      if (typeof value.room !== 'string' || typeof value.id !== 'string') return null;
      return isRevision(value.rev)
        ? { type: 'messageDeleted', room: value.room, id: value.id, rev: value.rev }
        : { type: 'messageDeleted', room: value.room, id: value.id };
    case 'changes': {
      if (typeof value.room !== 'string' || !Array.isArray(value.messages) || !isRevision(value.rev)) return null;
      const messages = value.messages.map(parseMessage);
      if (messages.some((m) => m === null)) return null;
      return {
        type: 'changes',
        room: value.room,
        messages: messages as ChatMessage[],
        rev: value.rev,
        hasMore: value.hasMore === true,
      };
    }
    case 'read':
      return typeof value.room === 'string' && typeof value.id === 'string'
        ? { type: value.type, room: value.room, id: value.id }
        : null;
    case 'removed':
      return typeof value.room === 'string' ? { type: 'removed', room: value.room } : null;
    case 'error':
      return {
        type: 'error',
        code: typeof value.code === 'string' ? value.code : 'internal',
        message: typeof value.message === 'string' ? value.message : '',
        action: optionalString(value.action),
        clientId: optionalString(value.clientId),
      };
    default:
      return gatewayError(value);
  }
}

/**
 * API Gateway's own answer to a frame it refused before any handler ran
 * (`{"message": "Too Many Requests", "connectionId", "requestId"}` when the
 * stage throttles): an error frame naming no action.
 */
function gatewayError(value: Record<string, unknown>): ServerFrame | null {
  if (value.type !== undefined || typeof value.message !== 'string' || typeof value.connectionId !== 'string') {
    return null;
  }
  const throttled = /too many requests|limit exceeded|throttl/i.test(value.message);
  return { type: 'error', code: throttled ? 'rate_limited' : 'internal', message: value.message };
}

/** Words a person understands for an error frame's code. */
export function describeError(code: string, serverMessage: string): string {
  switch (code) {
    case 'rate_limited':
      return 'You are sending messages too fast. Wait a few seconds, then retry.';
    case 'too_large':
      return 'That message is too long for the server.';
    case 'forbidden':
      return serverMessage ? `Not allowed: ${serverMessage}.` : 'You are not allowed to do that.';
    case 'not_found':
      return 'That message no longer exists.';
    case 'unauthorized':
      return 'Your session needed renewing; reconnecting. Send it again if it does not appear.';
    case 'bad_request':
      return serverMessage
        ? `The server could not accept that: ${serverMessage}.`
        : 'The server could not accept that message.';
    case 'unknown_action':
      return 'The server did not understand the request. Reload the page to update the app.';
    default:
      return 'The server had a problem. Try again in a moment.';
  }
}
