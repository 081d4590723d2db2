import { describe, expect, it } from 'vitest';
import { describeError, parseServerFrame, parseServerFrames } from './protocol';

const message = { id: '1', room: 'general', sender: 'bob', text: 'hi', sentAt: '2026-11-25T14:03:07.123Z' };

describe('parseServerFrame', () => {
  it('reads every frame type of the protocol', () => {
    expect(parseServerFrame(JSON.stringify({ type: 'message', message }))).toEqual({ type: 'message', message });
    expect(parseServerFrame(JSON.stringify({ type: 'messages', room: 'general', messages: [message], hasMore: true })))
      .toEqual({ type: 'messages', room: 'general', messages: [message], hasMore: true });
    expect(parseServerFrame('{"type":"joined","room":"random"}')).toEqual({ type: 'joined', room: 'random' });
    expect(parseServerFrame('{"type":"pong"}')).toEqual({ type: 'pong' });
    expect(parseServerFrame('{"type":"error","code":"too_large","message":"m","action":"sendMessage","clientId":"c-1"}'))
      .toEqual({ type: 'error', code: 'too_large', message: 'm', action: 'sendMessage', clientId: 'c-1' });
  });

  it('keeps the clientId of a message when present', () => {
    const frame = parseServerFrame(JSON.stringify({ type: 'message', message: { ...message, clientId: 'c-9' } }));
    expect(frame).toMatchObject({ message: { clientId: 'c-9' } });
  });

  it('drops anything malformed rather than trusting it', () => {
    for (const data of [
      'not json',
      '[]',
      '{"type":"message","message":{"id":1}}',
      '{"type":"messages","room":"general","messages":[{"id":"1"}]}',
      '{"type":"joined"}',
      '{"type":"unheard-of"}',
      new ArrayBuffer(4),
    ]) {
      expect(parseServerFrame(data)).toBeNull();
    }
  });
});

describe('parseServerFrames', () => {
  it('unwraps a batch into its frames in order, and a single frame into one', () => {
    const second = { ...message, id: '2' };
    const batch = { type: 'batch', frames: [{ type: 'message', message }, { type: 'pong' }, { type: 'message', message: second }] };
    expect(parseServerFrames(JSON.stringify(batch))).toEqual([
      { type: 'message', message },
      { type: 'pong' },
      { type: 'message', message: second },
    ]);
    expect(parseServerFrames('{"type":"pong"}')).toEqual([{ type: 'pong' }]);
  });

  it('never unwraps a nested batch, and drops malformed inner frames', () => {
    const nested = { type: 'batch', frames: [{ type: 'batch', frames: [{ type: 'pong' }] }, { type: 'message', message: { id: 1 } }, { type: 'pong' }] };
    expect(parseServerFrames(JSON.stringify(nested))).toEqual([{ type: 'pong' }]);
    expect(parseServerFrames('{"type":"batch","frames":"no"}')).toEqual([]);
    expect(parseServerFrames('not json')).toEqual([]);
  });
});

describe('describeError', () => {
  it('puts each error code in words', () => {
    expect(describeError('rate_limited', '')).toMatch(/too fast/);
    expect(describeError('too_large', '')).toMatch(/too long/);
    expect(describeError('bad_request', 'text must be 1-4000 characters')).toMatch(/text must be 1-4000/);
    expect(describeError('internal', '')).toMatch(/problem/);
  });
});

describe('parseServerFrame: version 2 room frames', () => {
  const frames = [
    { type: 'members', room: 'general', members: ['alice', 'bob'], count: 2 },
    { type: 'presence', room: 'general', username: 'bob', status: 'online' },
    { type: 'typing', room: 'general', username: 'bob' },
    { type: 'messageUpdated', message: { ...message, editedAt: '2026-11-25T14:05:00.000Z' } },
    { type: 'messageDeleted', room: 'general', id: '1' },
    { type: 'read', room: 'general', id: '1' },
  ];

  it.each(frames)('reads $type', (frame) => {
    expect(parseServerFrame(JSON.stringify(frame))).toEqual(frame);
  });

  it('reads a tombstone in history', () => {
    const tombstone = { id: '1', room: 'general', sender: 'bob', sentAt: message.sentAt, deleted: true, text: '' };
    expect(parseServerFrame(JSON.stringify({ type: 'message', message: tombstone }))).toEqual({ type: 'message', message: tombstone });
  });

  it('drops malformed ones', () => {
    expect(parseServerFrame('{"type":"presence","room":"general","username":"bob","status":"away"}')).toBeNull();
    expect(parseServerFrame('{"type":"members","room":"general","members":[1],"count":1}')).toBeNull();
    expect(parseServerFrame('{"type":"messageDeleted","room":"general"}')).toBeNull();
  });
});

describe('parseServerFrame: version 3 rooms', () => {
  it('reads removed, and drops one without a room', () => {
    expect(parseServerFrame('{"type":"removed","room":"team"}')).toEqual({ type: 'removed', room: 'team' });
    expect(parseServerFrame('{"type":"removed"}')).toBeNull();
  });

  it('says what a forbidden action was, in the server\'s words', () => {
    expect(describeError('forbidden', 'you may not enter team')).toBe('Not allowed: you may not enter team.');
  });
});

describe("API Gateway's own error answers", () => {
  it('read a throttled frame as rate_limited naming no action, other gateway errors as internal', () => {
    const throttled = JSON.stringify({ message: 'Too Many Requests', connectionId: 'c=', requestId: 'r' });
    expect(parseServerFrame(throttled)).toEqual({ type: 'error', code: 'rate_limited', message: 'Too Many Requests' });
    const failed = JSON.stringify({ message: 'Internal server error', connectionId: 'c=', requestId: 'r' });
    expect(parseServerFrame(failed)).toMatchObject({ type: 'error', code: 'internal' });
    expect(parseServerFrame(JSON.stringify({ message: 'hi' }))).toBeNull();
  });
});

describe('parseServerFrame: version 3 occupancy', () => {
  it('reads a big room count', () => {
    const frame = { type: 'occupancy', room: 'arena', count: 250 };
    expect(parseServerFrame(JSON.stringify(frame))).toEqual(frame);
  });

  it('drops one without a count', () => {
    expect(parseServerFrame('{"type":"occupancy","room":"arena"}')).toBeNull();
    expect(parseServerFrame('{"type":"occupancy","room":"arena","count":-1}')).toBeNull();
  });
});
