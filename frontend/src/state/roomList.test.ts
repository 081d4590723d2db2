import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RoomSummary } from '../api/rooms';
import { HttpError } from '../api/httpError';
import { MAX_BACKOFF_MS, RoomList, shownRooms } from './roomList';

const lobby: RoomSummary = { room: 'lobby', lastMessageAt: '2026-11-25T14:00:00.000Z', unread: 3 };
const quiet: RoomSummary = { room: 'quiet', lastMessageAt: null, unread: 0 };

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('rooms list', () => {
  it('shows the open room as read, and lists it even before the server does', () => {
    expect(shownRooms([lobby, quiet], 'lobby')).toEqual([{ ...lobby, unread: 0 }, quiet]);
    expect(shownRooms([lobby], 'new-room').map((r) => r.room)).toEqual(['lobby', 'new-room']);
  });

  it('asks GET /rooms with the token at start and again every 30 s', async () => {
    const fetchRooms = vi.fn().mockResolvedValue([lobby]);
    const list = new RoomList({ apiUrl: 'https://api.test', token: () => 'tok', fetchRooms });
    list.viewing('general');
    list.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(fetchRooms).toHaveBeenCalledWith('https://api.test', 'tok');
    expect(list.getSnapshot().map((r) => [r.room, r.unread])).toEqual([['lobby', 3], ['general', 0]]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(fetchRooms).toHaveBeenCalledTimes(2);
    list.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(fetchRooms).toHaveBeenCalledTimes(2);
  });

  it('makes one call at a time and one more for requests made during it', async () => {
    let answer: (rooms: RoomSummary[]) => void = () => {};
    const fetchRooms = vi.fn(() => new Promise<RoomSummary[]>((resolve) => (answer = resolve)));
    const list = new RoomList({ apiUrl: 'https://api.test', token: () => 'tok', fetchRooms });
    void list.refresh();
    void list.refresh();
    void list.refresh();
    expect(fetchRooms).toHaveBeenCalledTimes(1);
    answer([lobby]);
    await vi.advanceTimersByTimeAsync(0);
    expect(fetchRooms).toHaveBeenCalledTimes(2);
  });

  it('keeps what it shows when a refresh fails', async () => {
    const fetchRooms = vi.fn().mockResolvedValueOnce([lobby]).mockRejectedValueOnce(new Error('down'));
    const list = new RoomList({ apiUrl: 'https://api.test', token: () => 'tok', fetchRooms });
    await list.refresh();
    await list.refresh();
    expect(list.getSnapshot().map((r) => r.room)).toContain('lobby');
  });
});

describe('rooms list polling', () => {
  it('asks nothing while the page is hidden, and again once it is visible', async () => {
    let visible = false;
    const fetchRooms = vi.fn().mockResolvedValue([lobby]);
    const list = new RoomList({ apiUrl: 'https://api.test', token: () => 'tok', fetchRooms, visible: () => visible });
    list.start(); // the first load runs whatever the visibility
    await vi.advanceTimersByTimeAsync(5 * 30_000);
    expect(fetchRooms).toHaveBeenCalledTimes(1);
    visible = true;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(fetchRooms).toHaveBeenCalledTimes(2);
    list.stop();
  });

  it('backs off on 429, at least as long as Retry-After asks, and recovers after a success', async () => {
    const throttled = new HttpError('GET /rooms', 429, 45_000);
    const fetchRooms = vi
      .fn()
      .mockRejectedValueOnce(throttled)
      .mockRejectedValueOnce(new HttpError('GET /rooms', 429))
      .mockResolvedValue([lobby]);
    const list = new RoomList({ apiUrl: 'https://api.test', token: () => 'tok', fetchRooms, visible: () => true });
    list.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(fetchRooms).toHaveBeenCalledTimes(1);
    await list.refresh(); // a focus within the Retry-After asks nothing
    await vi.advanceTimersByTimeAsync(59_999); // waits 60 s (twice 30 s, over the 45 s asked)
    expect(fetchRooms).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fetchRooms).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(119_999); // throttled again: 120 s
    expect(fetchRooms).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(fetchRooms).toHaveBeenCalledTimes(3); // succeeded: back to every 30 s
    await vi.advanceTimersByTimeAsync(30_000);
    expect(fetchRooms).toHaveBeenCalledTimes(4);
    list.stop();
  });

  it('never waits longer than the ceiling', async () => {
    const fetchRooms = vi.fn().mockRejectedValue(new HttpError('GET /rooms', 503));
    const list = new RoomList({ apiUrl: 'https://api.test', token: () => 'tok', fetchRooms, visible: () => true });
    list.start();
    await vi.advanceTimersByTimeAsync(60 * 60_000);
    const calls = fetchRooms.mock.calls.length;
    await vi.advanceTimersByTimeAsync(MAX_BACKOFF_MS);
    expect(fetchRooms.mock.calls.length).toBe(calls + 1);
    list.stop();
  });
});
