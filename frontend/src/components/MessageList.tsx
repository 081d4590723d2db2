import { type KeyboardEvent, memo, useLayoutEffect, useRef, useState } from 'react';
import type { ChatMessage } from '../protocol';
import { type PendingMessage, type Timeline, isMe } from '../state/messages';
import { linkify } from '../text/linkify';
import { formatSentAt } from '../text/time';

interface Props extends MessageActions {
  timeline: Timeline;
  me: string;
  loadingOlder: boolean;
  onLoadOlder: () => void;
  onRetry: (clientId: string) => void;
  onDiscard: (clientId: string) => void;
  /** How the room is named in the log's label and hints (default "#room"; a DM: the person). */
  place?: string;
}

// Within this many pixels of the bottom the reader counts as "at the bottom"
// (follows new messages); within this many of the top, the older page loads.
const BOTTOM_SLACK = 48;
const TOP_TRIGGER = 80;

/** Text with links; every part a React text node, so no HTML is ever parsed. */
function MessageText({ text }: { text: string }) {
  return (
    <div className="text">
      {linkify(text).map((segment, i) =>
        segment.kind === 'link' ? (
          <a key={i} href={segment.href} target="_blank" rel="noopener noreferrer">
            {segment.text}
          </a>
        ) : (
          <span key={i}>{segment.text}</span>
        ),
      )}
    </div>
  );
}

interface MessageActions {
  /** Save an edit of our own message; returns why it cannot be saved, or null. */
  onEdit: (id: string, text: string) => string | null;
  onDelete: (id: string) => void;
  /** v3: report someone else's message (opens the report dialog). */
  onReport?: (message: ChatMessage) => void;
  /** v3: the reader moderates this room: Delete on every message. */
  canModerate?: boolean;
}

/** The in-place editor: Enter saves, Shift+Enter breaks the line, Escape cancels. */
function MessageEditor({ initial, onSave, onCancel }: {
  initial: string;
  onSave: (text: string) => string | null;
  onCancel: () => void;
}) {
  const [text, setText] = useState(initial);
  const [problem, setProblem] = useState<string | null>(null);
  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === 'Escape') {
      event.preventDefault();
      onCancel();
    } else if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      const why = text.trim() === initial ? null : onSave(text);
      setProblem(why);
      if (!why) onCancel();
    }
  }
  return (
    <div className="editor">
      <textarea
        aria-label="Edit message text"
        value={text}
        autoFocus
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        onFocus={(e) => e.currentTarget.setSelectionRange(text.length, text.length)}
      />
      <span className="hint">Enter saves · Escape cancels</span>
      {problem && <p className="error" role="alert">{problem}</p>}
    </div>
  );
}

const MessageItem = memo(function MessageItem({ message, own, onEdit, onDelete, onReport, canModerate }: {
  message: ChatMessage;
  own: boolean;
} & MessageActions) {
  const [editing, setEditing] = useState(false);
  const editable = own && !message.deleted;
  const othersLive = !own && !message.deleted;
  return (
    <li className={own ? 'message own' : 'message'} data-id={message.id}>
      <div className="meta">
        <span className="sender">{own ? `${message.sender} (you)` : message.sender}</span>
        <time dateTime={message.sentAt} title={message.sentAt}>
          {formatSentAt(message.sentAt)}
        </time>
        {message.editedAt && !message.deleted && (
          <span className="edited" title={message.editedAt}>(edited)</span>
        )}
      </div>
      {message.deleted ? (
        <div className="text deleted">Message deleted</div>
      ) : editing ? (
        <MessageEditor
          initial={message.text}
          onSave={(text) => onEdit(message.id, text)}
          onCancel={() => setEditing(false)}
        />
      ) : (
        <MessageText text={message.text} />
      )}
      {editable && !editing && (
        <div className="message-actions">
          <button type="button" className="link-button" onClick={() => setEditing(true)}>
            Edit message
          </button>
          <button type="button" className="link-button" onClick={() => onDelete(message.id)}>
            Delete message
          </button>
        </div>
      )}
      {othersLive && (onReport || canModerate) && (
        <div className="message-actions">
          {onReport && (
            <button type="button" className="link-button" onClick={() => onReport(message)}>
              Report message
            </button>
          )}
          {canModerate && (
            <button type="button" className="link-button" onClick={() => onDelete(message.id)}>
              Delete message
            </button>
          )}
        </div>
      )}
    </li>
  );
});

function PendingItem({
  entry,
  me,
  onRetry,
  onDiscard,
}: {
  entry: PendingMessage;
  me: string;
  onRetry: (clientId: string) => void;
  onDiscard: (clientId: string) => void;
}) {
  const failed = entry.state === 'failed';
  return (
    <li className={`message own ${entry.state}`} data-client-id={entry.clientId}>
      <div className="meta">
        <span className="sender">{me} (you)</span>
        <span className="state">{failed ? 'Not sent' : 'Sending…'}</span>
      </div>
      <MessageText text={entry.text} />
      {failed && (
        <div className="failure">
          <span>{entry.error}</span>
          <button type="button" className="link-button" onClick={() => onRetry(entry.clientId)}>
            Retry
          </button>
          <button type="button" className="link-button" onClick={() => onDiscard(entry.clientId)}>
            Discard
          </button>
        </div>
      )}
    </li>
  );
}

/**
 * The room's messages, newest at the bottom. It follows new messages while the
 * reader is at the bottom; once they scroll up it stays put and offers a "new
 * messages" pill instead. Reaching the top loads the previous page, keeping
 * the messages in view where they were.
 */
export function MessageList({
  timeline, me, loadingOlder, onLoadOlder, onRetry, onDiscard, onEdit, onDelete, onReport, canModerate,
  place = `#${timeline.room}`,
}: Props) {
  const listRef = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const previous = useRef({ room: '', first: '', last: '', pending: 0, height: 0 });
  const [showPill, setShowPill] = useState(false);
  const { messages, pending } = timeline;

  useLayoutEffect(() => {
    const el = listRef.current;
    if (!el) return;
    const prev = previous.current;
    const first = messages[0]?.id ?? '';
    const last = messages.at(-1)?.id ?? '';
    if (timeline.room !== prev.room || pending.length > prev.pending) {
      // A new room, or the reader just sent something: show the bottom.
      atBottom.current = true;
      setShowPill(false);
      el.scrollTop = el.scrollHeight;
    } else if (prev.first && first < prev.first) {
      // An older page went in above: keep what the reader looks at in place.
      el.scrollTop += el.scrollHeight - prev.height;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    } else if (last !== prev.last) {
      setShowPill(true);
    }
    previous.current = { room: timeline.room, first, last, pending: pending.length, height: el.scrollHeight };
    // A first page too short to scroll can never reach "the top": load on.
    if (timeline.loaded && timeline.hasOlder && !loadingOlder && el.scrollHeight <= el.clientHeight) {
      onLoadOlder();
    }
  }, [messages, pending, timeline.room, timeline.loaded, timeline.hasOlder, loadingOlder, onLoadOlder]);

  function onScroll() {
    const el = listRef.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight <= BOTTOM_SLACK;
    if (atBottom.current) setShowPill(false);
    if (el.scrollTop <= TOP_TRIGGER && timeline.loaded && timeline.hasOlder && !loadingOlder) onLoadOlder();
  }

  function jumpToBottom() {
    const el = listRef.current;
    if (el) el.scrollTop = el.scrollHeight;
    atBottom.current = true;
    setShowPill(false);
  }

  return (
    <div className="messages-frame">
      <div
        ref={listRef}
        className="messages"
        role="log"
        aria-live="polite"
        aria-label={`Messages in ${place}`}
        aria-busy={!timeline.loaded}
        tabIndex={0}
        onScroll={onScroll}
      >
        <p className="history-edge">
          {!timeline.loaded
            ? 'Loading messages…'
            : loadingOlder
              ? 'Loading older messages…'
              : timeline.hasOlder
                ? 'Scroll up for older messages'
                : messages.length
                  ? `This is the start of ${place}.`
                  : `No messages in ${place} yet. Say hello!`}
        </p>
        <ol>
          {messages.map((m) => (
            <MessageItem
              key={m.id}
              message={m}
              own={isMe(m.sender, me)}
              onEdit={onEdit}
              onDelete={onDelete}
              onReport={onReport}
              canModerate={canModerate}
            />
          ))}
          {pending.map((p) => (
            <PendingItem key={p.clientId} entry={p} me={me} onRetry={onRetry} onDiscard={onDiscard} />
          ))}
        </ol>
      </div>
      {showPill && (
        <button type="button" className="new-messages" onClick={jumpToBottom}>
          New messages ↓
        </button>
      )}
    </div>
  );
}
