import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ChatMessage } from '../protocol';
import { FakeLink } from '../testing/fakeLink';
import { makeMessage, makeMessages } from '../testing/fakeSocket';
import { Timelines } from './messages';
import { RoomSync } from './roomSync';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function setup() {
  const link = new FakeLink();
  const timelines = new Timelines();
  const state = { room: 'general', live: true };
  const received: ChatMessage[] = [];
  const synced: string[] = [];
  const sync = new RoomSync({
    link,
    timelines,
    room: () => state.room,
    me: () => 'alice',
    isLive: () => state.live,
    onReceived: (messages) => received.push(...messages),
    onSynced: (room) => synced.push(room),
    requestTimeoutMs: 5_000,
    markReadIntervalMs: 0,
    backoff: { baseMs: 100, maxMs: 1_000 },
    random: () => 1,
  });
  const ids = (room = 'general') => timelines.get(room).messages.map((m) => Number(m.id));
  return { link, timelines, state, received, synced, sync, ids };
}

describe('RoomSync', () => {
  it('loads the newest page, then the changes since, and only then is ready', () => {
    const { link, sync, synced, ids } = setup();
    sync.sync('general');
    expect(link.sentFrames('getMessages')).toHaveLength(1);
    sync.onFrame({ type: 'messages', room: 'general', messages: makeMessages(1, 3), hasMore: false });
    expect(ids()).toEqual([1, 2, 3]);
    expect(link.sentFrames('getChanges')).toMatchObject([{ sinceRev: 3 }]);
    expect(sync.ready).toBe(false);
    sync.onFrame({ type: 'changes', room: 'general', messages: [makeMessage(2, { text: 'edited', rev: 4 })], rev: 4, hasMore: false });
    expect(sync.ready).toBe(true);
    expect(synced).toEqual(['general']);
    expect(ids()).toEqual([1, 2, 3]);
  });

  it('catches up a loaded room instead of loading it again, and fills a skipped revision', () => {
    const { link, sync } = setup();
    sync.sync('general');
    sync.onFrame({ type: 'messages', room: 'general', messages: makeMessages(1, 3), hasMore: false });
    sync.onFrame({ type: 'changes', room: 'general', messages: [], rev: 3, hasMore: false });
    sync.disconnected();
    expect(sync.ready).toBe(false);
    sync.sync('general');
    expect(link.sentFrames('getMessages')).toHaveLength(1);
    expect(link.sentFrames('getChanges')).toMatchObject([{ sinceRev: 3 }, { sinceRev: 3 }]);
    sync.onFrame({ type: 'changes', room: 'general', messages: [], rev: 3, hasMore: false });
    sync.onFrame({ type: 'message', message: makeMessage(5) }); // 4 is missing
    expect(link.sentFrames('getChanges').at(-1)).toMatchObject({ sinceRev: 3 });
  });

  it('drops a connection whose getChanges gets no answer', () => {
    const { link, sync } = setup();
    sync.sync('general');
    sync.onFrame({ type: 'messages', room: 'general', messages: makeMessages(1, 2), hasMore: false });
    vi.advanceTimersByTime(4_999);
    expect(link.drops).toBe(0);
    vi.advanceTimersByTime(1);
    expect(link.drops).toBe(1);
  });

  it('keeps the messages of a page it did not ask for, and tells what arrived', () => {
    const { sync, received, ids } = setup();
    sync.onFrame({ type: 'messages', room: 'random', messages: makeMessages(7, 8, { room: 'random' }), hasMore: false });
    expect(ids('random')).toEqual([7, 8]);
    expect(received.map((m) => m.id)).toEqual(['00000007', '00000008']);
  });

  it('marks the open room read as messages arrive, not another room', () => {
    const { link, sync } = setup();
    sync.onFrame({ type: 'message', message: makeMessage(9, { room: 'random' }) });
    expect(link.sentFrames('markRead')).toEqual([]);
    sync.onFrame({ type: 'message', message: makeMessage(4) });
    expect(link.sentFrames('markRead')).toEqual([{ action: 'markRead', id: '00000004' }]);
  });

  it('loads older pages one at a time, and only when there are some', () => {
    const { link, sync } = setup();
    expect(sync.loadOlder()).toBe(false); // nothing loaded yet
    sync.sync('general');
    sync.onFrame({ type: 'messages', room: 'general', messages: makeMessages(5, 6), hasMore: true });
    expect(sync.loadOlder()).toBe(true);
    expect(sync.loadingOlder('general')).toBe(true);
    expect(sync.loadOlder()).toBe(false);
    expect(link.sentFrames('getMessages').at(-1)).toMatchObject({ before: '00000005' });
  });

  it('answers a getChanges error with a later retry, and a move forgets the old room', () => {
    const { link, sync, state } = setup();
    sync.sync('general');
    sync.onFrame({ type: 'messages', room: 'general', messages: makeMessages(1, 2), hasMore: false });
    sync.onError('rate_limited', 'getChanges');
    expect(link.drops).toBe(0);
    vi.advanceTimersByTime(1_000);
    expect(link.sentFrames('getChanges')).toHaveLength(2);
    sync.moved('general', 'random');
    state.room = 'random';
    expect(sync.ready).toBe(false);
    vi.advanceTimersByTime(60_000);
    expect(link.drops).toBe(0); // the old room's getChanges timer went with it
  });
});
