// The wire format of /work/shared/PROTOCOL.md (version 1): frame types, the
// client frames we send, and a parser that turns server frames into typed
// values (anything malformed is dropped rather than trusted).

export interface ChatMessage {
  id: string;
  room: string;
  sender: string;
  text: string;
  sentAt: string;
  clientId?: string;
}

export type ErrorCode =
  | 'bad_request'
  | 'unknown_action'
  | 'too_large'
  | 'rate_limited'
  | 'internal';

export type ServerFrame =
  | { type: 'message'; message: ChatMessage }
  | { type: 'messages'; room: string; messages: ChatMessage[]; hasMore: boolean }
  | { type: 'joined'; room: string }
  | { type: 'pong' }
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
  | { action: 'ping' };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A message object from a frame, or null when a field is missing or mistyped. */
export function parseMessage(value: unknown): ChatMessage | null {
  if (!isRecord(value)) return null;
  const { id, room, sender, text, sentAt, clientId } = value;
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
  return message;
}

/** One server frame from the raw WebSocket data, or null if it is not one we know. */
export function parseServerFrame(data: unknown): ServerFrame | null {
  if (typeof data !== 'string') return null;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
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
    case 'error':
      return {
        type: 'error',
        code: typeof value.code === 'string' ? value.code : 'internal',
        message: typeof value.message === 'string' ? value.message : '',
        action: optionalString(value.action),
        clientId: optionalString(value.clientId),
      };
    default:
      return null;
  }
}

/** Words a person understands for an error frame's code. */
export function describeError(code: string, serverMessage: string): string {
  switch (code) {
    case 'rate_limited':
      return 'You are sending messages too fast. Wait a few seconds, then retry.';
    case 'too_large':
      return 'That message is too long for the server.';
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
