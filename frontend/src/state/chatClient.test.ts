import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HISTORY_MAX } from '../limits';
import { makeMessage, makeMessages, socketFactory } from '../testing/fakeSocket';
import { ChatClient, type ChatClientOptions } from './chatClient';
import { THROTTLED_RETRY_MS } from './history';
import { SESSION_EXPIRED, SESSION_REFUSED } from './sessionWatch';

const NOW = Date.UTC(2026, 10, 25, 14, 0, 0);
const HOUR = 3_600_000;

function setup(overrides: Partial<ChatClientOptions> = {}) {
  const factory = socketFactory();
  const ended: string[] = [];
  const client = new ChatClient({
    wsUrl: 'ws://chat.test/ws',
    session: { username: 'alice', token: 'tok.en', expiresAt: new Date(NOW + 12 * HOUR).toISOString() },
    room: 'general',
    onSessionEnded: (reason) => ended.push(reason),
    createSocket: factory.create,
    backoff: { baseMs: 100, maxMs: 1_000 },
    random: () => 1,
    ...overrides,
  });
  const ids = () => client.getSnapshot().timeline.messages.map((m) => Number(m.id));
  return { client, factory, ended, ids, snap: () => client.getSnapshot() };
}

/** Start, open, answer the first history request with messages 1..n and the changes since (none). */
function connected(n = 3, overrides: Partial<ChatClientOptions> = {}) {
  const env = setup(overrides);
  env.client.start();
  env.factory.last().open();
  env.factory.last().receive({ type: 'messages', room: 'general', messages: makeMessages(1, n), hasMore: true });
  upToDate(env.factory, n);
  return env;
}

/** Answer the getChanges just asked: nothing changed, the room is at `rev`. */
function upToDate(factory: ReturnType<typeof socketFactory>, rev: number, room = 'general') {
  factory.last().receive({ type: 'changes', room, messages: [], rev, hasMore: false });
}

/** Drop the socket, wait out the backoff, and open the next one. */
function reconnect(factory: ReturnType<typeof socketFactory>) {
  factory.last().drop();
  vi.advanceTimersByTime(1_000);
  factory.last().open();
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(NOW);
});
afterEach(() => vi.useRealTimers());

describe('ChatClient: opening', () => {
  it('connects with the token and the room in the query string', () => {
    const { client, factory } = setup();
    client.start();
    const url = new URL(factory.last().url);
    expect(url.searchParams.get('token')).toBe('tok.en');
    expect(url.searchParams.get('room')).toBe('general');
  });

  it('asks for the newest page on open and shows it in id order', () => {
    const { client, factory, ids, snap } = setup();
    client.start();
    expect(snap().status).toBe('connecting');
    factory.last().open();
    expect(snap().status).toBe('live');
    expect(factory.last().sentFrames('getMessages')).toEqual([{ action: 'getMessages', limit: HISTORY_MAX }]);
    factory.last().receive({
      type: 'messages', room: 'general', messages: [makeMessage(1), makeMessage(2)], hasMore: true,
    });
    expect(ids()).toEqual([1, 2]);
    expect(snap().timeline).toMatchObject({ loaded: true, hasOlder: true });
  });

  it('ignores frames it does not understand', () => {
    const { factory, ids } = connected(2);
    factory.last().receive({ type: 'message', message: { id: 9 } });
    factory.last().receive({ type: 'surprise' });
    factory.last().onmessage?.({ data: 'not json' } as MessageEvent);
    expect(ids()).toEqual([1, 2]);
  });
});

describe('ChatClient: sending', () => {
  it('shows a sent message as pending until its echo, then once', () => {
    const { client, factory, ids, snap } = connected(2);
    expect(client.send('  hi there  ')).toBeNull();
    const [frame] = factory.last().sentFrames('sendMessage');
    expect(frame).toMatchObject({ action: 'sendMessage', text: 'hi there' });
    expect(snap().timeline.pending).toMatchObject([{ clientId: frame!.clientId, state: 'pending' }]);

    const echo = makeMessage(3, { sender: 'alice', text: 'hi there', clientId: frame!.clientId });
    factory.last().receive({ type: 'message', message: echo });
    factory.last().receive({ type: 'message', message: echo }); // redelivered
    expect(snap().timeline.pending).toEqual([]);
    expect(ids()).toEqual([1, 2, 3]);
  });

  it('gives every message its own clientId within the protocol limit', () => {
    const { client, factory } = connected();
    client.send('a');
    client.send('b');
    const ids = factory.last().sentFrames('sendMessage').map((f) => f.clientId);
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect(id.length).toBeLessThanOrEqual(64);
  });

  it('refuses empty and over-long text without sending anything', () => {
    const { client, factory } = connected();
    expect(client.send('   ')).toMatch(/type a message/i);
    expect(client.send('x'.repeat(4001))).toMatch(/at most 4000/);
    expect(factory.last().sentFrames('sendMessage')).toEqual([]);
  });

  it('marks a message failed on an error frame, and retries it with the same clientId', () => {
    const { client, factory, snap } = connected();
    client.send('spam');
    const clientId = factory.last().sentFrames('sendMessage')[0]!.clientId;
    factory.last().receive({
      type: 'error', code: 'rate_limited', message: 'slow down', action: 'sendMessage', clientId,
    });
    expect(snap().timeline.pending[0]).toMatchObject({ state: 'failed', error: expect.stringMatching(/too fast/) });
    expect(snap().notice).toMatch(/too fast/);

    client.retry(clientId);
    expect(snap().timeline.pending[0]?.state).toBe('pending');
    expect(factory.last().sentFrames('sendMessage').map((f) => f.clientId)).toEqual([clientId, clientId]);
  });

  it('marks a message failed when no echo comes back', () => {
    const { client, snap } = connected(3, { echoTimeoutMs: 5_000 });
    client.send('anyone?');
    vi.advanceTimersByTime(5_000);
    expect(snap().timeline.pending[0]).toMatchObject({ state: 'failed', error: expect.stringMatching(/no reply/i) });
  });

  it('sends messages typed while offline once connected and caught up', () => {
    const { client, factory } = setup();
    client.start();
    client.send('typed early');
    factory.last().open();
    expect(factory.last().sentFrames('sendMessage')).toEqual([]);
    factory.last().receive({ type: 'messages', room: 'general', messages: [], hasMore: false });
    expect(factory.last().sentFrames('sendMessage')).toEqual([]); // not before the changes since
    upToDate(factory, 0);
    expect(factory.last().sentFrames('sendMessage')).toMatchObject([{ text: 'typed early' }]);
  });

  it('shows server errors without a clientId beside the composer', () => {
    const { factory, snap, client } = connected();
    factory.last().receive({ type: 'error', code: 'bad_request', message: 'frame is not JSON' });
    expect(snap().notice).toBe('The server could not accept that: frame is not JSON.');
    client.dismissNotice();
    expect(snap().notice).toBeNull();
  });
});

describe('ChatClient: reconnecting', () => {
  it('catches up page by page after a reconnect, losing and doubling nothing', () => {
    const { factory, ids, snap } = connected(3);
    reconnect(factory);
    expect(snap().status).toBe('live');
    const socket = factory.last();
    expect(socket.sentFrames('getMessages')).toEqual([]);
    expect(socket.sentFrames('getChanges')).toEqual([{ action: 'getChanges', sinceRev: 3, limit: 100 }]);

    socket.receive({ type: 'changes', room: 'general', messages: makeMessages(4, 103), rev: 103, hasMore: true });
    // A live message arrives before the catch-up is finished...
    socket.receive({ type: 'message', message: makeMessage(150) });
    // ...and the next page still starts where the last answer ended, not at 150.
    expect(socket.sentFrames('getChanges').at(-1)).toEqual({ action: 'getChanges', sinceRev: 103, limit: 100 });
    socket.receive({ type: 'changes', room: 'general', messages: makeMessages(100, 150), rev: 150, hasMore: false });

    expect(socket.sentFrames('getChanges')).toHaveLength(2);
    expect(ids()).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
  });

  it('resends an unconfirmed message after the reconnect with its clientId', () => {
    const { client, factory, ids, snap } = connected(3);
    client.send('in flight');
    const clientId = factory.sockets[0]!.sentFrames('sendMessage')[0]!.clientId;
    reconnect(factory);
    expect(factory.last().sentFrames('sendMessage')).toEqual([]); // not before the catch-up
    upToDate(factory, 3);
    expect(factory.last().sentFrames('sendMessage')).toEqual([{ action: 'sendMessage', text: 'in flight', clientId }]);
    factory.last().receive({ type: 'message', message: makeMessage(4, { sender: 'alice', clientId }) });
    expect(snap().timeline.pending).toEqual([]);
    expect(ids()).toEqual([1, 2, 3, 4]);
  });

  it('does not resend a message the catch-up shows was stored', () => {
    const { client, factory, snap } = connected(3);
    client.send('made it');
    const clientId = factory.sockets[0]!.sentFrames('sendMessage')[0]!.clientId;
    reconnect(factory);
    factory.last().receive({
      type: 'changes', room: 'general', messages: [makeMessage(4, { sender: 'alice', clientId })], rev: 4, hasMore: false,
    });
    expect(factory.last().sentFrames('sendMessage')).toEqual([]);
    expect(snap().timeline.pending).toEqual([]);
  });

  it('shows reconnecting with the wait until the next attempt', () => {
    const { factory, snap } = connected();
    factory.last().drop();
    expect(snap()).toMatchObject({ status: 'reconnecting', retryInMs: 100 });
  });

  it('reconnects when a history request gets no answer', () => {
    const { client, factory, snap } = connected(3, { requestTimeoutMs: 5_000 });
    client.loadOlder();
    vi.advanceTimersByTime(5_000);
    expect(snap().status).toBe('reconnecting');
    expect(snap().loadingOlder).toBe(false);
    vi.advanceTimersByTime(1_000);
    expect(factory.sockets).toHaveLength(2);
  });
});

describe('ChatClient: history and rooms', () => {
  it('loads the page before the oldest message, one request at a time', () => {
    const { client, factory, ids, snap } = connected(3);
    factory.last().receive({ type: 'message', message: makeMessage(4) });
    client.loadOlder();
    client.loadOlder();
    expect(snap().loadingOlder).toBe(true);
    expect(factory.last().sentFrames('getMessages').slice(1)).toEqual([
      { action: 'getMessages', limit: HISTORY_MAX, before: '00000001' },
    ]);
    factory.last().receive({
      type: 'messages', room: 'general', messages: [{ ...makeMessage(0), id: '00000000' }], hasMore: false,
    });
    expect(ids()).toEqual([0, 1, 2, 3, 4]);
    expect(snap()).toMatchObject({ loadingOlder: false, timeline: { hasOlder: false } });
    client.loadOlder();
    expect(factory.last().sentFrames('getMessages')).toHaveLength(2);
  });

  it('joins another room, loads its history, and keeps the old room for a quick return', () => {
    const { client, factory, ids, snap } = connected(3);
    client.joinRoom('random');
    expect(factory.last().sentFrames('joinRoom')).toEqual([{ action: 'joinRoom', room: 'random' }]);
    expect(snap()).toMatchObject({ room: 'random', timeline: { messages: [], loaded: false } });

    factory.last().receive({ type: 'joined', room: 'random' });
    expect(factory.last().sentFrames('getMessages').at(-1)).toEqual({ action: 'getMessages', limit: HISTORY_MAX });
    factory.last().receive({
      type: 'messages', room: 'random', messages: [makeMessage(10, { room: 'random' })], hasMore: false,
    });
    expect(factory.last().sentFrames('getChanges').at(-1)).toEqual({ action: 'getChanges', sinceRev: 10, limit: 100 });
    upToDate(factory, 10, 'random');
    expect(ids()).toEqual([10]);

    client.joinRoom('general');
    expect(ids()).toEqual([1, 2, 3]); // shown at once, from memory
    factory.last().receive({ type: 'joined', room: 'general' });
    expect(factory.last().sentFrames('getChanges').at(-1)).toEqual({ action: 'getChanges', sinceRev: 3, limit: 100 });
  });

  it('files live messages under their own room', () => {
    const { client, factory, ids } = connected(3);
    client.joinRoom('random');
    factory.last().receive({ type: 'message', message: makeMessage(4) }); // still routed to general
    expect(ids()).toEqual([]);
    client.joinRoom('general');
    expect(ids()).toEqual([1, 2, 3, 4]);
  });

  it('reconnects into the room it was in', () => {
    const { client, factory } = connected(3);
    client.joinRoom('random');
    reconnect(factory);
    expect(new URL(factory.last().url).searchParams.get('room')).toBe('random');
  });
});

describe('ChatClient: session', () => {
  it('answers an unauthorized frame with one refresh, then reconnects with the new token', async () => {
    const renewed = { username: 'alice', token: 'new.token', expiresAt: new Date(NOW + 12 * HOUR).toISOString() };
    let refreshes = 0;
    const { factory, ended } = connected(3, {
      refresh: async () => {
        refreshes++;
        return renewed;
      },
    });
    const refused = { type: 'error', code: 'unauthorized', message: 'your token has expired; log in again' };
    factory.last().receive(refused);
    factory.last().receive(refused); // a second one while the refresh runs asks for nothing more
    factory.last().drop(); // the server closes the connection
    await vi.advanceTimersByTimeAsync(0);
    expect(refreshes).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(new URL(factory.last().url).searchParams.get('token')).toBe('new.token');
    expect(ended).toEqual([]);
  });

  it('stops without a word of its own when the token cannot be renewed', async () => {
    const { factory, ended, snap } = connected(3, { refresh: async () => null });
    factory.last().receive({ type: 'error', code: 'unauthorized', message: 'revoked' });
    await vi.advanceTimersByTimeAsync(0);
    expect(snap().status).toBe('stopped');
    expect(ended).toEqual([]); // the refresher has already said why
  });

  it('goes back to the login form when the token expires', () => {
    const { factory, ended, snap } = connected(3, {
      session: { username: 'alice', token: 't', expiresAt: new Date(NOW + 60_000).toISOString() },
    });
    vi.advanceTimersByTime(59_999);
    expect(ended).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(snap().status).toBe('stopped');
    expect(ended).toEqual([SESSION_EXPIRED]);
    vi.advanceTimersByTime(HOUR);
    expect(factory.sockets).toHaveLength(1);
  });

  it('does not even dial with an expired token', () => {
    const { client, factory, ended } = setup({
      session: { username: 'alice', token: 't', expiresAt: new Date(NOW - 1).toISOString() },
    });
    client.start();
    expect(ended).toEqual([SESSION_EXPIRED]);
    expect(factory.sockets).toHaveLength(0);
  });

  it('ends the session when handshakes keep failing while the server answers', async () => {
    const { client, factory, ended } = setup({ checkServerUp: async () => true });
    client.start();
    for (let i = 0; i < 3; i++) {
      factory.last().drop();
      await vi.advanceTimersByTimeAsync(1_000);
    }
    expect(ended).toEqual([]); // suspected: one more attempt, at once
    factory.last().drop();
    await vi.advanceTimersByTimeAsync(0);
    expect(ended).toEqual([SESSION_REFUSED]);
  });

  it('tries one renewal of a token refused at the handshake before giving up', async () => {
    const renewed = { username: 'alice', token: 'renewed', expiresAt: new Date(NOW + 12 * HOUR).toISOString() };
    const { client, factory, ended } = setup({ checkServerUp: async () => true, refresh: async () => renewed });
    client.start();
    for (let i = 0; i < 4; i++) {
      factory.last().drop();
      await vi.advanceTimersByTimeAsync(i < 3 ? 1_000 : 0);
    }
    expect(ended).toEqual([]);
    expect(new URL(factory.last().url).searchParams.get('token')).toBe('renewed');
  });

  it('does not end the session when the server came back just after a failed attempt', async () => {
    const { client, factory, ended, snap } = setup({ checkServerUp: async () => true });
    client.start();
    for (let i = 0; i < 3; i++) {
      factory.last().drop();
      await vi.advanceTimersByTimeAsync(1_000);
    }
    const retried = factory.sockets.length;
    factory.last().open(); // the immediate retry gets through
    expect(factory.sockets).toHaveLength(retried);
    expect(snap().status).toBe('live');
    factory.last().drop();
    await vi.advanceTimersByTimeAsync(1_000);
    factory.last().drop(); // a single failure later is not a refusal
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ended).toEqual([]);
  });

  it('keeps retrying while the server is down', async () => {
    const { client, factory, ended } = setup({ checkServerUp: async () => false });
    client.start();
    for (let i = 0; i < 6; i++) {
      factory.last().drop();
      await vi.advanceTimersByTimeAsync(1_000);
    }
    expect(ended).toEqual([]);
    expect(factory.sockets).toHaveLength(7);
  });
});

describe('ChatClient: members, typing, edits and read markers', () => {
  it('asks who is here on open and keeps the list live with presence', () => {
    const { factory, snap } = connected();
    const socket = factory.last();
    expect(socket.sentFrames('getMembers')).toHaveLength(1);
    socket.receive({ type: 'members', room: 'general', members: ['alice', 'bob'], count: 2 });
    socket.receive({ type: 'presence', room: 'general', username: 'carol', status: 'online' });
    socket.receive({ type: 'presence', room: 'general', username: 'bob', status: 'offline' });
    socket.receive({ type: 'presence', room: 'elsewhere', username: 'dave', status: 'online' });
    expect(snap().members.names).toEqual(['alice', 'carol']);
  });

  it('shows who types for 4 s after their last typing frame, or until their message', () => {
    const { factory, snap } = connected();
    const socket = factory.last();
    socket.receive({ type: 'typing', room: 'general', username: 'bob' });
    socket.receive({ type: 'typing', room: 'general', username: 'alice' }); // myself: not shown
    expect(snap().typing).toBe('bob is typing…');
    vi.advanceTimersByTime(3_999);
    expect(snap().typing).toBe('bob is typing…');
    vi.advanceTimersByTime(1);
    expect(snap().typing).toBe('');
    socket.receive({ type: 'typing', room: 'general', username: 'bob' });
    socket.receive({ type: 'message', message: makeMessage(4, { sender: 'bob' }) });
    expect(snap().typing).toBe('');
  });

  it('sends typing at most once every 2 s', () => {
    const { client, factory } = connected();
    client.typing();
    client.typing();
    vi.advanceTimersByTime(1_999);
    client.typing();
    expect(factory.last().sentFrames('typing')).toHaveLength(1);
    vi.advanceTimersByTime(1);
    client.typing();
    expect(factory.last().sentFrames('typing')).toHaveLength(2);
  });

  it('edits and deletes by id, and shows what the room is told', () => {
    const { client, factory, snap } = connected(3);
    const socket = factory.last();
    const id = makeMessage(2).id;
    expect(client.edit(id, '  fixed  ')).toBeNull();
    expect(client.edit(id, '   ')).not.toBeNull();
    expect(socket.sentFrames('editMessage')).toEqual([
      expect.objectContaining({ action: 'editMessage', id, text: 'fixed' }),
    ]);
    socket.receive({ type: 'messageUpdated', message: { ...makeMessage(2), text: 'fixed', editedAt: '2026-11-25T14:05:00.000Z', rev: 4 } });
    expect(snap().timeline.messages[1]).toMatchObject({ text: 'fixed', editedAt: '2026-11-25T14:05:00.000Z' });
    client.remove(id);
    expect(socket.sentFrames('deleteMessage')).toEqual([expect.objectContaining({ id })]);
    socket.receive({ type: 'messageDeleted', room: 'general', id, rev: 5 });
    expect(snap().timeline.messages[1]).toMatchObject({ deleted: true, text: '', rev: 5 });
    expect(socket.sentFrames('getChanges')).toHaveLength(1); // 4 and 5 followed 3: nothing missed
  });

  it('marks the open room read up to the newest message shown, at most every 2 s', () => {
    const { factory } = connected(3);
    const socket = factory.last();
    expect(socket.sentFrames('markRead')).toEqual([{ action: 'markRead', id: makeMessage(3).id }]);
    socket.receive({ type: 'message', message: makeMessage(4) });
    socket.receive({ type: 'message', message: makeMessage(5) });
    expect(socket.sentFrames('markRead')).toHaveLength(1);
    vi.advanceTimersByTime(2_000);
    expect(socket.sentFrames('markRead').map((f) => f.id)).toEqual([makeMessage(3).id, makeMessage(5).id]);
  });

  it('shows no notice when a read marker is refused', () => {
    const { factory, snap } = connected();
    factory.last().receive({ type: 'error', code: 'not_found', message: 'no such id', action: 'markRead' });
    expect(snap().notice).toBeNull();
  });
});

describe('ChatClient: rooms one may not be in', () => {
  it('stays in the room it was in when a join is forbidden', () => {
    const { client, factory, snap } = connected(2);
    client.joinRoom('secret');
    expect(snap().room).toBe('secret');
    factory.last().receive({
      type: 'error', code: 'forbidden', message: 'you may not enter secret', action: 'joinRoom',
    });
    expect(snap().room).toBe('general');
    expect(snap().notice).toBe('Could not join the room: Not allowed: you may not enter secret.');
  });

  it('goes to the default room when removed from the open one', () => {
    const { client, factory, snap } = connected(2);
    client.joinRoom('team');
    factory.last().receive({ type: 'joined', room: 'team' });
    factory.last().receive({ type: 'removed', room: 'team' });
    expect(snap().room).toBe('general');
    expect(factory.last().sentFrames('joinRoom').at(-1)).toEqual({ action: 'joinRoom', room: 'general' });
    expect(snap().notice).toBe('You are no longer in #team.');
  });
});

describe('ChatClient: a stored room that now refuses the handshake', () => {
  it('tries the default room before suspecting the token', async () => {
    const { client, factory, ended, snap } = setup({ room: 'team', checkServerUp: async () => true });
    client.start();
    for (let i = 0; i < 3; i++) {
      factory.last().drop();
      await vi.advanceTimersByTimeAsync(1_000);
    }
    expect(ended).toEqual([]);
    expect(snap().room).toBe('general');
    expect(new URL(factory.last().url).searchParams.get('room')).toBe('general');
    expect(snap().notice).toBe('You cannot enter that room any more.');
  });
});

describe('ChatClient: a frame the stage throttled', () => {
  it('asks again shortly instead of waiting for the timeout and reconnecting', () => {
    const { client, factory } = connected(3, { requestTimeoutMs: 15_000 });
    client.loadOlder();
    const socket = factory.last();
    expect(socket.sentFrames('getMessages')).toHaveLength(2);
    socket.receive({ message: 'Too Many Requests', connectionId: 'c=', requestId: 'r' });
    vi.advanceTimersByTime(THROTTLED_RETRY_MS);
    expect(socket.sentFrames('getMessages')).toHaveLength(3);
    expect(socket.sentFrames('getMessages').at(-1)).toEqual(socket.sentFrames('getMessages')[1]);
    expect(factory.sockets).toHaveLength(1); // no reconnect
  });
});
