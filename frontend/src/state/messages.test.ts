import { describe, expect, it } from 'vitest';
import { makeMessage, makeMessages } from '../testing/fakeSocket';
import {
  addPending,
  deleteMessage,
  emptyTimeline,
  mergeMessages,
  receiveMessages,
  removePending,
  setPendingState,
  Timelines,
  updateMessage,
} from './messages';

const ids = (list: readonly { id: string }[]) => list.map((m) => Number(m.id));

describe('mergeMessages', () => {
  it('orders messages by id whatever order they arrive in', () => {
    const merged = mergeMessages([], [makeMessage(3), makeMessage(1), makeMessage(2)]);
    expect(ids(merged)).toEqual([1, 2, 3]);
  });

  it('drops a message it already holds (at-least-once delivery)', () => {
    const once = mergeMessages([], makeMessages(1, 3));
    const twice = mergeMessages(once, [makeMessage(2), makeMessage(3)]);
    expect(ids(twice)).toEqual([1, 2, 3]);
    expect(twice).toBe(once);
  });

  it('keeps the first copy of a duplicated id', () => {
    const first = makeMessage(1, { text: 'original' });
    const merged = mergeMessages([first], [makeMessage(1, { text: 'redelivered' })]);
    expect(merged[0]?.text).toBe('original');
  });

  it('places an older page before and a late live message in between', () => {
    const page = mergeMessages(makeMessages(10, 12), makeMessages(5, 9));
    const withLate = mergeMessages(page, [makeMessage(11), makeMessage(13), makeMessage(4)]);
    expect(ids(withLate)).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
  });

  it('compares ids as plain strings, as the protocol says', () => {
    const merged = mergeMessages([], [{ ...makeMessage(1), id: 'b' }, { ...makeMessage(2), id: 'aa' }]);
    expect(merged.map((m) => m.id)).toEqual(['aa', 'b']);
  });
});

describe('pending messages', () => {
  it('stay pending until the echo with their clientId arrives', () => {
    let t = addPending(emptyTimeline('general'), 'c-1', 'hello');
    expect(t.pending).toHaveLength(1);
    expect(t.pending[0]?.state).toBe('pending');
    t = receiveMessages(t, [makeMessage(7, { sender: 'alice', text: 'hello', clientId: 'c-1' })], 'alice');
    expect(t.pending).toEqual([]);
    expect(ids(t.messages)).toEqual([7]);
  });

  it('are not acknowledged by someone else using the same clientId', () => {
    let t = addPending(emptyTimeline('general'), 'c-1', 'hello');
    t = receiveMessages(t, [makeMessage(7, { sender: 'mallory', clientId: 'c-1' })], 'alice');
    expect(t.pending.map((p) => p.clientId)).toEqual(['c-1']);
  });

  it('are matched to the sender ignoring case (usernames are unique ignoring case)', () => {
    let t = addPending(emptyTimeline('general'), 'c-1', 'hello');
    t = receiveMessages(t, [makeMessage(7, { sender: 'Alice', clientId: 'c-1' })], 'alice');
    expect(t.pending).toEqual([]);
  });

  it('show as failed with a reason, and go back to pending on retry', () => {
    let t = addPending(emptyTimeline('general'), 'c-1', 'hello');
    t = setPendingState(t, 'c-1', 'failed', 'too fast');
    expect(t.pending[0]).toMatchObject({ state: 'failed', error: 'too fast', text: 'hello' });
    t = setPendingState(t, 'c-1', 'pending');
    expect(t.pending[0]).toEqual({ clientId: 'c-1', room: 'general', text: 'hello', state: 'pending' });
  });

  it('can be discarded', () => {
    let t = addPending(addPending(emptyTimeline('general'), 'c-1', 'a'), 'c-2', 'b');
    t = removePending(t, 'c-1');
    expect(t.pending.map((p) => p.clientId)).toEqual(['c-2']);
  });

  it('keep the order they were typed in', () => {
    let t = emptyTimeline('general');
    for (const id of ['c-1', 'c-2', 'c-3']) t = addPending(t, id, id);
    t = receiveMessages(t, [makeMessage(1, { sender: 'alice', clientId: 'c-2' })], 'alice');
    expect(t.pending.map((p) => p.clientId)).toEqual(['c-1', 'c-3']);
  });
});

describe('edits and deletes', () => {
  const base = { ...emptyTimeline('general'), messages: makeMessages(1, 3) };

  it('shows an edit in place', () => {
    const edited = { ...makeMessage(2), text: 'fixed', editedAt: '2026-11-25T14:05:00.000Z', rev: 10 };
    const next = updateMessage(base, edited);
    expect(next.messages.map((m) => m.text)).toEqual(['message 1', 'fixed', 'message 3']);
  });

  it('replaces a deleted message by its tombstone, for good', () => {
    const next = deleteMessage(base, makeMessage(2).id);
    expect(next.messages[1]).toMatchObject({ id: makeMessage(2).id, deleted: true, text: '' });
    const late = { ...makeMessage(2), text: 'late edit', editedAt: '2026-11-25T14:09:00.000Z', rev: 1 };
    expect(updateMessage(next, late)).toBe(next);
  });

  it('never lets a message delivered again undo an edit', () => {
    const edited = updateMessage(base, { ...makeMessage(2), text: 'fixed', editedAt: '2026-11-25T14:05:00.000Z', rev: 10 });
    const again = receiveMessages(edited, [makeMessage(2)], 'alice');
    expect(again.messages[1]!.text).toBe('fixed');
  });

  it('takes the latest version from a history page', () => {
    const page = [{ ...makeMessage(3), text: 'newer', editedAt: '2026-11-25T14:05:00.000Z', rev: 10 }, makeMessage(4)];
    const next = receiveMessages(base, page, 'alice');
    expect(next.messages.map((m) => m.text)).toEqual(['message 1', 'message 2', 'newer', 'message 4']);
  });
});

describe('Timelines', () => {
  it('gives an empty timeline for a room not seen, and keeps each room apart', () => {
    const timelines = new Timelines();
    expect(timelines.get('general')).toEqual(emptyTimeline('general'));
    timelines.update('general', (t) => receiveMessages(t, makeMessages(1, 2), 'alice'));
    timelines.update('random', (t) => addPending(t, 'c-1', 'hi'));
    timelines.updateAll((t) => setPendingState(t, 'c-1', 'failed', 'no'));
    expect(timelines.get('general').messages).toHaveLength(2);
    expect(timelines.get('general').pending).toEqual([]);
    expect(timelines.get('random').pending).toMatchObject([{ clientId: 'c-1', state: 'failed' }]);
  });
});
