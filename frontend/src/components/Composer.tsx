import { type FormEvent, type KeyboardEvent, useState } from 'react';
import { TEXT_MAX, textLength } from '../limits';

interface Props {
  /** How the room is named in the placeholder: "#room", or the other person of a DM. */
  room: string;
  /** A server error to show beside the composer (rate limited, too large…). */
  notice: string | null;
  /** Send the text; returns why it cannot be sent, or null. */
  onSend: (text: string) => string | null;
  onDismissNotice: () => void;
  /** The reader typed something (the client thins these out). */
  onTyping: () => void;
}

// The counter appears when the text gets this close to the limit.
const COUNTER_FROM = TEXT_MAX - 500;

/** The "Message" box: Enter sends, Shift+Enter starts a new line. */
export function Composer({ room, notice, onSend, onDismissNotice, onTyping }: Props) {
  const [text, setText] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const length = textLength(text);
  const over = length > TEXT_MAX;

  function send() {
    const why = onSend(text);
    setProblem(why);
    if (!why) setText('');
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    send();
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    // isComposing: Enter that confirms an IME candidate must not send.
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      send();
    }
  }

  const shown = problem ?? notice;
  return (
    <form className="composer" onSubmit={onSubmit}>
      <label htmlFor="composer-text" className="visually-hidden">
        Message
      </label>
      <textarea
        id="composer-text"
        rows={1}
        value={text}
        placeholder={`Message ${room}`}
        onChange={(e) => {
          setText(e.target.value);
          if (problem) setProblem(null);
          if (e.target.value.trim()) onTyping();
        }}
        onKeyDown={onKeyDown}
        aria-invalid={over}
        aria-describedby="composer-counter composer-notice"
      />
      <span id="composer-counter" className={over ? 'counter over' : 'counter'}>
        {length >= COUNTER_FROM ? `${length} / ${TEXT_MAX}` : ''}
      </span>
      <button type="submit" disabled={over || text.trim() === ''}>
        Send
      </button>
      <p id="composer-notice" className="composer-notice" role="status">
        {shown}
        {shown && (
          <button
            type="button"
            className="link-button"
            aria-label="Dismiss"
            onClick={() => {
              setProblem(null);
              onDismissNotice();
            }}
          >
            ×
          </button>
        )}
      </p>
    </form>
  );
}
