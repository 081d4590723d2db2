// Typing, both ways: the reader's own typing goes to the room at most once per
// TYPING_INTERVAL_MS; others' `typing` frames make the typing line, each name
// shown for TYPING_DISPLAY_MS or until that user's message (./presence has the
// rules as plain values). Its one timer, the next line to go away, is cancelled
// by clear() and stop().
import { TYPING_INTERVAL_MS } from '../limits';
import type { Link } from '../connection/socket';
import { type Typists, nextExpiry, someoneTyping, stopTyping, typingLine } from './presence';

export interface TypingOptions {
  link: Pick<Link, 'send'>;
  /** A name went away from the line by itself (its time was up). */
  onChange: () => void;
  now?: () => number;
}

export class Typing {
  private typists: Typists = new Map();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastSent = -Infinity;

  constructor(private readonly options: TypingOptions) {}

  /** "alice is typing…", or "". */
  get line(): string {
    return typingLine(this.typists);
  }

  /** The reader is typing: tell the room, at most once per TYPING_INTERVAL_MS. */
  typed(): void {
    const now = this.now();
    if (now - this.lastSent < TYPING_INTERVAL_MS) return;
    if (this.options.link.send({ action: 'typing' })) this.lastSent = now;
  }

  /** A `typing` frame from another user in the open room. */
  someone(username: string): void {
    this.set(someoneTyping(this.typists, username, this.now()));
  }

  /** Their message arrived: their line goes. */
  sent(username: string): void {
    this.set(stopTyping(this.typists, this.now(), username));
  }

  /** Another room: nobody is typing there yet. */
  clear(): void {
    this.set(new Map());
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private set(typists: Typists): void {
    this.typists = typists;
    this.stop();
    const soonest = nextExpiry(typists);
    if (soonest === null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.set(stopTyping(this.typists, this.now()));
      this.options.onChange();
    }, Math.max(soonest - this.now(), 0));
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }
}
