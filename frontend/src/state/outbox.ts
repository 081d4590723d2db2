// Our own messages on their way: each gets a clientId (unique across tabs and
// reloads, so a retry of the same message is stored once), and once sent it
// waits for its echo; no echo within echoTimeoutMs and it shows as failed.
// The timeline keeps the pending messages themselves (./messages); this keeps
// the clientIds and the echo timers, all cancelled by cancel().
import type { ChatMessage } from '../protocol';

export const NO_ECHO = 'No reply from the server.';
export const ECHO_TIMEOUT_MS = 20_000;

export interface OutboxOptions {
  /** A message sent to `room` got no echo in time. */
  onNoEcho: (room: string, clientId: string) => void;
  echoTimeoutMs?: number;
}

export class Outbox {
  private readonly echoTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private counter = 0;
  private readonly prefix = randomTag();

  constructor(private readonly options: OutboxOptions) {}

  newClientId(): string {
    this.counter++;
    return `c-${this.prefix}-${this.counter}`;
  }

  /** A sendMessage with this clientId went out: wait for its echo. */
  sent(room: string, clientId: string): void {
    this.settled(clientId);
    this.echoTimers.set(
      clientId,
      setTimeout(() => {
        this.echoTimers.delete(clientId);
        this.options.onNoEcho(room, clientId);
      }, this.options.echoTimeoutMs ?? ECHO_TIMEOUT_MS),
    );
  }

  /** The server answered this clientId (its echo, or an error): stop waiting. */
  settled(clientId: string): void {
    const timer = this.echoTimers.get(clientId);
    if (timer !== undefined) clearTimeout(timer);
    this.echoTimers.delete(clientId);
  }

  /** Messages arrived (live, a page, changes): the ones with a clientId are echoes. */
  received(messages: readonly ChatMessage[]): void {
    for (const m of messages) if (m.clientId !== undefined) this.settled(m.clientId);
  }

  /** The connection is gone or the client stops: the reopen resends what is still pending. */
  cancel(): void {
    for (const timer of this.echoTimers.values()) clearTimeout(timer);
    this.echoTimers.clear();
  }
}

/** A short random tag so clientIds differ across tabs and reloads. */
function randomTag(): string {
  const bytes = new Uint8Array(6);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(36).padStart(2, '0')).join('');
}
