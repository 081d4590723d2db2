import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ChatMessage } from '../protocol';
import { makeMessage, makeMessages, socketFactory } from '../testing/fakeSocket';
import { ChatClient } from './chatClient';
import { emptyTimeline } from './messages';
import { RevisionSync, RoomRevisions, applyChanges, newestRev } from './revisions';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function sync(answer = true) {
  const asked: number[] = [];
  const applied: ChatMessage[][] = [];
  const synced: number[] = [];
  const revisions = new RevisionSync({
    request: (sinceRev) => {
      asked.push(sinceRev);
      return answer;
    },
    apply: (messages) => applied.push([...messages]),
    onSynced: (rev) => synced.push(rev),
    backoff: { baseMs: 100, maxMs: 1_000 },
    random: () => 0.5,
  });
  return { revisions, asked, applied, synced };
}

describe('RevisionSync', () => {
  it('asks for the changes since the first page, then is caught up', () => {
    const { revisions, asked, synced } = sync();
    revisions.start(3);
    expect(asked).toEqual([3]);
    revisions.onChanges([], 3, false);
    expect(synced).toEqual([3]);
    expect(revisions.applied).toBe(3);
  });

  it('moves on with revisions that follow one another, asking nothing', () => {
    const { revisions, asked } = sync();
    revisions.start(3);
    revisions.onChanges([], 3, false);
    revisions.seen(4);
    revisions.seen(5);
    revisions.seen(5); // delivered again
    expect(revisions.applied).toBe(5);
    expect(asked).toEqual([3]);
  });

  it('asks for getChanges from the last applied revision when one is skipped', () => {
    const { revisions, asked, synced } = sync();
    revisions.start(3);
    revisions.onChanges([], 3, false);
    revisions.seen(5);
    expect(asked).toEqual([3, 3]);
    expect(revisions.applied).toBe(3);
    revisions.seen(6); // one request at a time
    expect(asked).toEqual([3, 3]);
    revisions.onChanges([makeMessage(4), makeMessage(5), makeMessage(6)], 6, false);
    expect(revisions.applied).toBe(6);
    expect(synced).toEqual([3, 6]);
  });

  it('pages on from the last rev of each answer until hasMore is false', () => {
    const { revisions, asked, synced } = sync();
    revisions.start(0);
    revisions.onChanges(makeMessages(1, 100), 100, true);
    expect(asked).toEqual([0, 100]);
    revisions.onChanges(makeMessages(101, 120), 120, false);
    expect(synced).toEqual([120]);
  });

  it('asks again when a live revision is still beyond the answer', () => {
    const { revisions, asked } = sync();
    revisions.start(3);
    revisions.seen(9); // committed after the Query behind the answer below
    revisions.onChanges([], 3, false);
    expect(asked).toEqual([3, 3]);
    revisions.onChanges(makeMessages(4, 9), 9, false);
    expect(revisions.applied).toBe(9);
  });

  it('retries a rate_limited answer with a growing, jittered delay and never counts it as caught up', () => {
    const { revisions, asked, synced } = sync();
    revisions.start(3);
    revisions.onError();
    expect(synced).toEqual([]);
    expect(revisions.busy).toBe(true);
    vi.advanceTimersByTime(74); // 50..100 ms for the first retry (random 0.5: 75)
    expect(asked).toEqual([3]);
    vi.advanceTimersByTime(1);
    expect(asked).toEqual([3, 3]);
    revisions.onError();
    vi.advanceTimersByTime(149); // the second waits longer: 100..200 ms
    expect(asked).toEqual([3, 3]);
    vi.advanceTimersByTime(1);
    expect(asked).toEqual([3, 3, 3]);
    revisions.onChanges([], 3, false);
    expect(synced).toEqual([3]);
  });

  it('asks until it reaches a revision seen live but not applied', () => {
    const { revisions, asked } = sync();
    revisions.start(3);
    revisions.missed(5); // a delete of a message not held, while the first answer is out
    revisions.onChanges([], 4, false); // computed before revision 5 was committed
    expect(asked).toEqual([3, 4]);
    revisions.onChanges([makeMessage(5)], 5, false);
    expect(revisions.applied).toBe(5);
    expect(revisions.busy).toBe(false);
  });

  it('waits for the first page before asking anything, whatever arrives live', () => {
    const { revisions, asked } = sync();
    revisions.seen(7);
    expect(asked).toEqual([]);
    revisions.start(7);
    expect(revisions.applied).toBe(7);
  });

  it('forgets what was asked when the connection goes, and asks again on catchUp', () => {
    const { revisions, asked } = sync();
    revisions.start(3);
    revisions.disconnected();
    revisions.catchUp();
    expect(asked).toEqual([3, 3]);
  });
});

describe('RevisionSync: a getChanges with no answer', () => {
  function timed() {
    let timeouts = 0;
    const revisions = new RevisionSync({
      request: () => true,
      apply: () => {},
      onSynced: () => {},
      onTimeout: () => timeouts++,
      timeoutMs: 5_000,
      backoff: { baseMs: 100, maxMs: 1_000 },
      random: () => 1,
    });
    return { revisions, timeouts: () => timeouts };
  }

  it('counts the connection dead after timeoutMs, unless an answer or an error came', () => {
    const answered = timed();
    answered.revisions.start(1);
    vi.advanceTimersByTime(4_000);
    answered.revisions.onChanges([], 1, false);
    const refused = timed();
    refused.revisions.start(1);
    refused.revisions.onError();
    vi.advanceTimersByTime(100); // the retry asks again, and waits again
    vi.advanceTimersByTime(4_999);
    expect([answered.timeouts(), refused.timeouts()]).toEqual([0, 0]);
    vi.advanceTimersByTime(1);
    expect([answered.timeouts(), refused.timeouts()]).toEqual([0, 1]);
  });

  it('stops waiting when disconnected', () => {
    const { revisions, timeouts } = timed();
    revisions.start(1);
    revisions.disconnected();
    vi.advanceTimersByTime(60_000);
    expect(timeouts()).toBe(0);
  });
});

describe('RoomRevisions', () => {
  it('keeps one RevisionSync per room and disconnects them all', () => {
    const asked: string[] = [];
    const rooms = new RoomRevisions(
      (room) =>
        new RevisionSync({
          request: () => {
            asked.push(room);
            return true;
          },
          apply: () => {},
          onSynced: () => {},
        }),
    );
    expect(rooms.of('general')).toBe(rooms.of('general'));
    rooms.of('general').start(1);
    rooms.of('random').start(1);
    expect(rooms.of('general').busy && rooms.of('random').busy).toBe(true);
    rooms.disconnected();
    expect(rooms.of('general').busy || rooms.of('random').busy).toBe(false);
    expect(asked).toEqual(['general', 'random']);
  });
});

describe('applyChanges', () => {
  const base = { ...emptyTimeline('general'), messages: makeMessages(5, 7), hasOlder: true, loaded: true };

  it('applies edits and deletes made while away, and new messages by seq, never twice', () => {
    const changes = [
      { ...makeMessage(6), text: 'edited', editedAt: '2026-11-25T14:05:00.000Z', rev: 9 },
      { ...makeMessage(8), rev: 8 },
      { ...makeMessage(7), text: '', deleted: true, rev: 10 },
    ];
    const next = applyChanges(base, changes, 'alice');
    expect(next.messages.map((m) => [m.seq, m.text, m.deleted ?? false])).toEqual([
      [5, 'message 5', false], [6, 'edited', false], [7, '', true], [8, 'message 8', false],
    ]);
    expect(applyChanges(next, changes, 'alice')).toBe(next);
  });

  it('leaves out a change to a message older than the loaded page', () => {
    const old = { ...makeMessage(2), text: 'edited long ago', rev: 11 };
    expect(applyChanges(base, [old], 'alice')).toBe(base);
  });

  it('confirms our own pending message', () => {
    const pending = { ...base, pending: [{ clientId: 'c-1', room: 'general', text: 'hi', state: 'pending' as const }] };
    const next = applyChanges(pending, [makeMessage(8, { sender: 'alice', clientId: 'c-1' })], 'alice');
    expect(next.pending).toEqual([]);
  });

  it('finds the newest revision of a page', () => {
    expect(newestRev([makeMessage(3), { ...makeMessage(1), rev: 9 }])).toBe(9);
    expect(newestRev([])).toBe(0);
  });
});

describe('ChatClient with revisions', () => {
  function connected() {
    const factory = socketFactory();
    const client = new ChatClient({
      wsUrl: 'ws://chat.test/ws',
      session: { username: 'alice', token: 'tok.en', expiresAt: new Date(Date.now() + 3_600_000).toISOString() },
      room: 'general',
      onSessionEnded: () => {},
      createSocket: factory.create,
      backoff: { baseMs: 100, maxMs: 1_000 },
      changesBackoff: { baseMs: 100, maxMs: 1_000 },
      random: () => 1,
    });
    client.start();
    factory.last().open();
    factory.last().receive({ type: 'messages', room: 'general', messages: makeMessages(1, 3), hasMore: false });
    factory.last().receive({ type: 'changes', room: 'general', messages: [], rev: 3, hasMore: false });
    const ids = () => client.getSnapshot().timeline.messages.map((m) => m.seq);
    return { client, factory, ids, socket: factory.last() };
  }

  it('a skipped revision triggers getChanges, and the gap is filled in seq order', () => {
    const { socket, ids } = connected();
    socket.receive({ type: 'message', message: makeMessage(10) });
    expect(ids()).toEqual([1, 2, 3, 10]); // shown at once...
    expect(socket.sentFrames('getChanges').at(-1)).toEqual({ action: 'getChanges', sinceRev: 3, limit: 100 });
    socket.receive({ type: 'changes', room: 'general', messages: makeMessages(4, 10), rev: 10, hasMore: false });
    expect(ids()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]); // ...and the gap filled, nothing twice
  });

  it('a rate_limited answer to getChanges is retried, not taken as synced', () => {
    const { socket, ids } = connected();
    socket.receive({ type: 'message', message: makeMessage(10) });
    socket.receive({ type: 'error', code: 'rate_limited', message: 'slow down', action: 'getChanges' });
    expect(ids()).toEqual([1, 2, 3, 10]);
    expect(socket.sentFrames('getChanges')).toHaveLength(2);
    vi.advanceTimersByTime(100);
    expect(socket.sentFrames('getChanges')).toHaveLength(3);
    socket.receive({ type: 'error', code: 'internal', message: 'oops', action: 'getChanges' });
    vi.advanceTimersByTime(200);
    expect(socket.sentFrames('getChanges').at(-1)).toEqual({ action: 'getChanges', sinceRev: 3, limit: 100 });
    socket.receive({ type: 'changes', room: 'general', messages: makeMessages(4, 10), rev: 10, hasMore: false });
    expect(ids()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('an error answer to the first page is asked again, not taken as loaded', () => {
    const factory = socketFactory();
    const client = new ChatClient({
      wsUrl: 'ws://chat.test/ws',
      session: { username: 'alice', token: 'tok.en', expiresAt: new Date(Date.now() + 3_600_000).toISOString() },
      room: 'general',
      onSessionEnded: () => {},
      createSocket: factory.create,
      changesBackoff: { baseMs: 100, maxMs: 1_000 },
      random: () => 1,
    });
    client.start();
    client.send('waits');
    factory.last().open();
    factory.last().receive({ type: 'error', code: 'rate_limited', message: 'slow down', action: 'getMessages' });
    expect(factory.last().sentFrames('sendMessage')).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(factory.last().sentFrames('getMessages')).toHaveLength(2);
  });

  it('live frames out of order are placed by seq and leave no duplicate', () => {
    const { socket, ids } = connected();
    socket.receive({ type: 'message', message: makeMessage(5) });
    socket.receive({ type: 'message', message: makeMessage(4) });
    socket.receive({ type: 'message', message: makeMessage(5) });
    expect(ids()).toEqual([1, 2, 3, 4, 5]);
  });

  it('edits and deletes made while away are applied after the reconnect', () => {
    const { factory, client } = connected();
    factory.last().drop();
    vi.advanceTimersByTime(1_000);
    factory.last().open();
    const socket = factory.last();
    expect(socket.sentFrames('getChanges')).toEqual([{ action: 'getChanges', sinceRev: 3, limit: 100 }]);
    socket.receive({
      type: 'changes', room: 'general', hasMore: false, rev: 6,
      messages: [
        { ...makeMessage(1), text: 'edited while away', editedAt: '2026-11-25T14:05:00.000Z', rev: 5 },
        { ...makeMessage(2), text: '', deleted: true, rev: 6 },
      ],
    });
    expect(client.getSnapshot().timeline.messages.map((m) => [m.text, m.deleted ?? false])).toEqual([
      ['edited while away', false], ['', true], ['message 3', false],
    ]);
  });

  it('asks for the changes when the tab is shown again', () => {
    const { client, socket } = connected();
    client.catchUp();
    expect(socket.sentFrames('getChanges').at(-1)).toEqual({ action: 'getChanges', sinceRev: 3, limit: 100 });
  });
});
