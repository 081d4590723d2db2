// One WebSocket that stays up: it reconnects with backoff when dropped, pings
// so API Gateway's idle timeout never fires, and treats a ping without any
// answer as a dead connection. It knows frames, not chat: ChatClient decides
// what to send when the socket opens.
import { IDLE_TIMEOUT_MS } from '../limits';
import { type ClientFrame, type ServerFrame, parseServerFrames } from '../protocol';
import { type BackoffPolicy, DEFAULT_BACKOFF, backoffDelay } from './backoff';

export type SocketStatus = 'connecting' | 'live' | 'reconnecting' | 'stopped';

/** The part of the browser's WebSocket we use (tests pass a fake). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: Event) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

const OPEN = 1;

/** What the chat's parts need of the socket: send a frame, tell whether it is live, drop a dead one. */
export interface Link {
  send(frame: ClientFrame): boolean;
  readonly isOpen: boolean;
  drop(): void;
}

export interface SocketOptions {
  /** The URL to dial, asked again before every attempt (token and room may change). */
  url: () => string;
  onFrame: (frame: ServerFrame) => void;
  /** The socket is open; `reconnected` is false only for the very first open. */
  onOpen: (reconnected: boolean) => void;
  /** Status changed; `retryInMs` is set while waiting to reconnect. */
  onStatus: (status: SocketStatus, retryInMs?: number) => void;
  /** A connection attempt closed before it opened (`failures` in a row). */
  onHandshakeFailure?: (failures: number) => void;
  createSocket?: (url: string) => WebSocketLike;
  backoff?: BackoffPolicy;
  random?: () => number;
  /** How often to ping an open socket; default a third of the idle timeout. */
  pingIntervalMs?: number;
  /** How long a ping may go without any frame back before the socket counts as dead. */
  pongTimeoutMs?: number;
}

export class ReconnectingSocket implements Link {
  private ws: WebSocketLike | null = null;
  private status: SocketStatus = 'connecting';
  private attempt = 0;
  private handshakeFailures = 0;
  private everOpened = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private pongTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly options: SocketOptions;

  constructor(options: SocketOptions) {
    this.options = options;
  }

  get currentStatus(): SocketStatus {
    return this.status;
  }

  /** Dial for the first time. */
  start(): void {
    if (this.ws || this.retryTimer) return;
    this.setStatus('connecting');
    this.dial();
  }

  /** Close for good (log out, leave the page): no reconnect follows. */
  stop(): void {
    this.clearTimers();
    this.setStatus('stopped');
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      detach(ws);
      ws.close(1000, 'bye');
    }
  }

  /** While waiting to reconnect, try now (the browser came back online). */
  reconnectNow(): void {
    if (this.status === 'stopped' || !this.retryTimer) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.dial();
  }

  /** Drop the current connection and reconnect with backoff (it looks dead). */
  drop(): void {
    if (this.ws) this.closed(this.ws);
  }

  /** Send a frame if the socket is open; false if it is not (nothing is queued here). */
  send(frame: ClientFrame): boolean {
    if (!this.ws || this.ws.readyState !== OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  get isOpen(): boolean {
    return this.ws !== null && this.ws.readyState === OPEN && this.status === 'live';
  }

  private dial(): void {
    const create = this.options.createSocket ?? ((url: string) => new WebSocket(url));
    let ws: WebSocketLike;
    try {
      ws = create(this.options.url());
    } catch {
      // A malformed URL throws synchronously; treat it like a refused attempt.
      this.handshakeFailures++;
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.handshakeFailures = 0;
      this.setStatus('live');
      this.startPing();
      this.options.onOpen(reconnected);
    };
    ws.onmessage = (event) => {
      this.heardFrom();
      for (const frame of parseServerFrames(event.data)) this.options.onFrame(frame);
    };
    // Browsers fire error then close; close alone drives reconnection.
    ws.onerror = () => {};
    ws.onclose = () => {
      if (!opened) {
        this.handshakeFailures++;
        this.options.onHandshakeFailure?.(this.handshakeFailures);
      }
      this.closed(ws);
    };
  }

  private closed(ws: WebSocketLike): void {
    if (ws !== this.ws) return;
    detach(ws);
    if (ws.readyState === OPEN) ws.close(4000, 'no answer to ping');
    this.ws = null;
    this.stopPing();
    if (this.status !== 'stopped') this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.status === 'stopped') return;
    const delay = backoffDelay(this.attempt, this.options.backoff ?? DEFAULT_BACKOFF, this.options.random);
    this.attempt++;
    this.setStatus('reconnecting', delay);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.dial();
    }, delay);
  }

  private startPing(): void {
    this.stopPing();
    const every = this.options.pingIntervalMs ?? IDLE_TIMEOUT_MS / 3;
    this.pingTimer = setInterval(() => {
      if (!this.send({ action: 'ping' })) return;
      if (this.pongTimer === null) {
        this.pongTimer = setTimeout(() => this.drop(), this.options.pongTimeoutMs ?? 15_000);
      }
    }, every);
  }

  private heardFrom(): void {
    if (this.pongTimer !== null) {
      clearTimeout(this.pongTimer);
      this.pongTimer = null;
    }
  }

  private stopPing(): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.heardFrom();
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.stopPing();
  }

  private setStatus(status: SocketStatus, retryInMs?: number): void {
    this.status = status;
    this.options.onStatus(status, retryInMs);
  }
}

function detach(ws: WebSocketLike): void {
  ws.onopen = ws.onclose = ws.onerror = null;
  ws.onmessage = null;
}
