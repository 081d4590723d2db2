// Our own messages on their way. Each gets a clientId (unique across tabs and
// reloads, so a retry of the same message is stored once) and waits in its
// room's timeline as pending (./messages); once sent it waits for its echo, and
// with no echo within echoTimeoutMs, or an error naming its clientId, it shows
// as failed with Retry. The echo timers are cancelled by cancel() (the reopen
// sends again whatever is still pending).
import { textProblem } from '../limits';
import type { Link } from '../connection/socket';
import type { ChatMessage } from '../protocol';
import { type Timelines, addPending, removePending, setPendingState } from './messages';

export const NO_ECHO = 'No reply from the server.';
export const OFFLINE = 'Not connected: try again when the chat is live.';
export const ECHO_TIMEOUT_MS = 20_000;

export interface OutboxOptions {
  link: Pick<Link, 'send'>;
  timelines: Timelines;
  /** A message failed by itself (no echo in time): show it. */
  onChange: () => void;
  echoTimeoutMs?: number;
}

export class Outbox {
  private readonly echoTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private counter = 0;
  private readonly prefix = randomTag();

  constructor(private readonly options: OutboxOptions) {}

  private newClientId(): string {
    this.counter++;
    return `c-${this.prefix}-${this.counter}`;
  }

  /** A new message in `room`, pending until sent and echoed: its clientId, or why the text cannot be sent. */
  add(room: string, text: string): { clientId: string } | { problem: string } {
    const trimmed = text.trim();
    const problem = textProblem(trimmed);
    if (problem) return { problem };
    const clientId = this.newClientId();
    this.options.timelines.update(room, (t) => addPending(t, clientId, trimmed));
    return { clientId };
  }

  /** Change the text of one of our messages: why not, or null (the room is told, and so are we). */
  edit(id: string, text: string): string | null {
    const trimmed = text.trim();
    const problem = textProblem(trimmed);
    if (problem) return problem;
    const sent = this.options.link.send({ action: 'editMessage', id, text: trimmed, clientId: this.newClientId() });
    return sent ? null : OFFLINE;
  }

  /** Delete one of our messages (it stays as "Message deleted"): why not, or null. */
  remove(id: string): string | null {
    return this.options.link.send({ action: 'deleteMessage', id, clientId: this.newClientId() }) ? null : OFFLINE;
  }

  /** A failed message is pending again (it keeps its clientId). */
  retry(room: string, clientId: string): void {
    this.options.timelines.update(room, (t) => setPendingState(t, clientId, 'pending'));
  }

  discard(room: string, clientId: string): void {
    this.options.timelines.update(room, (t) => removePending(t, clientId));
  }

  /** Send one pending message, and wait for its echo. */
  transmit(room: string, clientId: string): void {
    const entry = this.options.timelines.get(room).pending.find((p) => p.clientId === clientId);
    if (!entry || !this.options.link.send({ action: 'sendMessage', text: entry.text, clientId })) return;
    this.settled(clientId);
    this.echoTimers.set(
      clientId,
      setTimeout(() => {
        this.echoTimers.delete(clientId);
        this.options.timelines.update(room, (t) => setPendingState(t, clientId, 'failed', NO_ECHO));
        this.options.onChange();
      }, this.options.echoTimeoutMs ?? ECHO_TIMEOUT_MS),
    );
  }

  /** The room is caught up: send every message still pending (typed offline, or unconfirmed before a reconnect). */
  flush(room: string): void {
    for (const p of this.options.timelines.get(room).pending) {
      if (p.state === 'pending') this.transmit(room, p.clientId);
    }
  }

  /** An error frame named this clientId: the message failed, in these words. */
  failed(clientId: string, words: string): void {
    this.settled(clientId);
    this.options.timelines.updateAll((t) => setPendingState(t, clientId, 'failed', words));
  }

  /** Messages arrived (live, a page, changes): the ones with a clientId are echoes. */
  received(messages: readonly ChatMessage[]): void {
    for (const m of messages) if (m.clientId !== undefined) this.settled(m.clientId);
  }

  /** The connection is gone or the client stops: no echo is awaited any more. */
  cancel(): void {
    for (const timer of this.echoTimers.values()) clearTimeout(timer);
    this.echoTimers.clear();
  }

  private settled(clientId: string): void {
    const timer = this.echoTimers.get(clientId);
    if (timer !== undefined) clearTimeout(timer);
    this.echoTimers.delete(clientId);
  }
}

/** A short random tag so clientIds differ across tabs and reloads. */
function randomTag(): string {
  const bytes = new Uint8Array(6);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(36).padStart(2, '0')).join('');
}
