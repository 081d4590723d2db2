// A WebSocket stand-in the tests drive by hand: open it, push server frames,
// drop it, and read back the frames the client sent.
import type { WebSocketLike } from '../connection/socket';
import type { ChatMessage, ClientFrame } from '../protocol';

export class FakeSocket implements WebSocketLike {
  readyState = 0;
  readonly sent: ClientFrame[] = [];
  onopen: WebSocketLike['onopen'] = null;
  onclose: WebSocketLike['onclose'] = null;
  onerror: WebSocketLike['onerror'] = null;
  onmessage: WebSocketLike['onmessage'] = null;

  constructor(readonly url: string) {}

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sent.push(JSON.parse(data) as ClientFrame);
  }

  close(): void {
    this.readyState = 3;
  }

  /** The server accepted the handshake. */
  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  /** The server sent a frame. */
  receive(frame: object): void {
    this.onmessage?.({ data: JSON.stringify(frame) } as MessageEvent);
  }

  /** The connection went away (server restart, network loss, refused handshake). */
  drop(): void {
    this.readyState = 3;
    this.onclose?.({ code: 1006 } as CloseEvent);
  }

  /** The frames sent with a given action. */
  sentFrames<A extends ClientFrame['action']>(action: A): Extract<ClientFrame, { action: A }>[] {
    return this.sent.filter((f): f is Extract<ClientFrame, { action: A }> => f.action === action);
  }
}

/** A createSocket function that records every socket it made. */
export function socketFactory(): { sockets: FakeSocket[]; create: (url: string) => FakeSocket; last: () => FakeSocket } {
  const sockets: FakeSocket[] = [];
  return {
    sockets,
    create: (url: string) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    last: () => {
      const socket = sockets.at(-1);
      if (!socket) throw new Error('no socket was created');
      return socket;
    },
  };
}

/** Messages with ids that sort like the server's (zero-padded). */
export function makeMessage(n: number, overrides: Partial<ChatMessage> = {}): ChatMessage {
  return {
    id: String(n).padStart(8, '0'),
    room: 'general',
    sender: 'bob',
    text: `message ${n}`,
    sentAt: new Date(Date.UTC(2026, 10, 25, 14, 0, n % 60)).toISOString(),
    seq: n,
    rev: n,
    ...overrides,
  };
}

export function makeMessages(from: number, to: number, overrides: Partial<ChatMessage> = {}): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (let n = from; n <= to; n++) out.push(makeMessage(n, overrides));
  return out;
}
