import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { socketFactory } from '../testing/fakeSocket';
import type { ServerFrame } from '../protocol';
import { ReconnectingSocket, type SocketStatus } from './socket';

const policy = { baseMs: 1_000, maxMs: 8_000 };

function setup(extra: { pingIntervalMs?: number; pongTimeoutMs?: number } = {}) {
  const factory = socketFactory();
  const frames: ServerFrame[] = [];
  const statuses: [SocketStatus, number | undefined][] = [];
  const opens: boolean[] = [];
  const failures: number[] = [];
  const socket = new ReconnectingSocket({
    url: () => `ws://chat.test/ws?attempt=${factory.sockets.length + 1}`,
    onFrame: (frame) => frames.push(frame),
    onOpen: (reconnected) => opens.push(reconnected),
    onStatus: (status, retryInMs) => statuses.push([status, retryInMs]),
    onHandshakeFailure: (n) => failures.push(n),
    createSocket: factory.create,
    backoff: policy,
    random: () => 1, // the top of each jitter range: delays are exactly the ceilings
    ...extra,
  });
  return { factory, socket, statuses, opens, failures, frames };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('ReconnectingSocket', () => {
  it('hands on the frames of a batch one by one, in order, as if each came alone', () => {
    const { factory, socket, frames } = setup();
    socket.start();
    factory.last().open();
    const message = (id: string) => ({ id, room: 'general', sender: 'bob', text: id, sentAt: '2026-11-25T14:03:07.123Z' });
    factory.last().receive({ type: 'batch', frames: [{ type: 'message', message: message('1') }, { type: 'message', message: message('2') }] });
    factory.last().receive({ type: 'message', message: message('3') });
    expect(frames.map((f) => (f.type === 'message' ? f.message.id : f.type))).toEqual(['1', '2', '3']);
  });

  it('goes connecting → live and reports the first open as not a reconnect', () => {
    const { factory, socket, statuses, opens } = setup();
    socket.start();
    factory.last().open();
    expect(statuses.map(([s]) => s)).toEqual(['connecting', 'live']);
    expect(opens).toEqual([false]);
  });

  it('reconnects after a drop, waiting longer after each failed attempt', () => {
    const { factory, socket, statuses, opens } = setup();
    socket.start();
    factory.last().open();
    factory.last().drop();
    expect(statuses.at(-1)).toEqual(['reconnecting', 1_000]);

    vi.advanceTimersByTime(999);
    expect(factory.sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(factory.sockets).toHaveLength(2);

    factory.last().drop(); // refused while the server is still down
    expect(statuses.at(-1)).toEqual(['reconnecting', 2_000]);
    vi.advanceTimersByTime(2_000);
    factory.last().drop();
    expect(statuses.at(-1)).toEqual(['reconnecting', 4_000]);
    vi.advanceTimersByTime(4_000);
    factory.last().open();
    expect(opens).toEqual([false, true]);
    expect(statuses.at(-1)).toEqual(['live', undefined]);
  });

  it('starts the backoff over once a connection opens', () => {
    const { factory, socket, statuses } = setup();
    socket.start();
    factory.last().drop();
    vi.advanceTimersByTime(1_000);
    factory.last().drop();
    vi.advanceTimersByTime(2_000);
    factory.last().open();
    factory.last().drop();
    expect(statuses.at(-1)).toEqual(['reconnecting', 1_000]);
  });

  it('counts handshakes that never opened, and resets the count on open', () => {
    const { factory, socket, failures } = setup();
    socket.start();
    factory.last().drop();
    vi.advanceTimersByTime(1_000);
    factory.last().drop();
    vi.advanceTimersByTime(2_000);
    factory.last().open();
    factory.last().drop(); // dropped after opening: not a refused handshake
    vi.advanceTimersByTime(1_000);
    factory.last().drop();
    expect(failures).toEqual([1, 2, 1]);
  });

  it('dials the URL as it is at each attempt', () => {
    const { factory, socket } = setup();
    socket.start();
    factory.last().drop();
    vi.advanceTimersByTime(1_000);
    expect(factory.sockets.map((s) => s.url)).toEqual([
      'ws://chat.test/ws?attempt=1',
      'ws://chat.test/ws?attempt=2',
    ]);
  });

  it('pings an idle connection before the idle timeout', () => {
    const { factory, socket } = setup({ pingIntervalMs: 60_000 });
    socket.start();
    factory.last().open();
    vi.advanceTimersByTime(60_000);
    factory.last().receive({ type: 'pong' });
    vi.advanceTimersByTime(60_000);
    expect(factory.last().sentFrames('ping')).toHaveLength(2);
    expect(factory.sockets).toHaveLength(1);
  });

  it('pings by default well inside the 10-minute idle timeout', () => {
    const { factory, socket } = setup();
    socket.start();
    factory.last().open();
    vi.advanceTimersByTime(5 * 60_000);
    expect(factory.sockets[0]!.sentFrames('ping').length).toBeGreaterThanOrEqual(1);
  });

  it('treats a ping without any answer as a dead connection and reconnects', () => {
    const { factory, socket, statuses } = setup({ pingIntervalMs: 60_000, pongTimeoutMs: 10_000 });
    socket.start();
    factory.last().open();
    vi.advanceTimersByTime(60_000 + 10_000);
    expect(statuses.at(-1)?.[0]).toBe('reconnecting');
    vi.advanceTimersByTime(1_000);
    expect(factory.sockets).toHaveLength(2);
  });

  it('does not reconnect after stop()', () => {
    const { factory, socket, statuses } = setup();
    socket.start();
    factory.last().open();
    socket.stop();
    vi.advanceTimersByTime(60_000);
    expect(factory.sockets).toHaveLength(1);
    expect(statuses.at(-1)?.[0]).toBe('stopped');
  });

  it('reconnectNow() skips the remaining wait', () => {
    const { factory, socket } = setup();
    socket.start();
    factory.last().drop();
    socket.reconnectNow();
    expect(factory.sockets).toHaveLength(2);
  });

  it('refuses to send while not open instead of queueing silently', () => {
    const { factory, socket } = setup();
    socket.start();
    expect(socket.send({ action: 'ping' })).toBe(false);
    factory.last().open();
    expect(socket.send({ action: 'ping' })).toBe(true);
  });
});
