import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HISTORY_MAX } from '../limits';
import { FakeLink } from '../testing/fakeLink';
import { HistoryRequests, type HistoryRequest, THROTTLED_RETRY_MS } from './history';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function setup(wanted = true) {
  const link = new FakeLink();
  const handled: HistoryRequest[] = [];
  const history = new HistoryRequests({
    link,
    stillWanted: () => wanted,
    requestTimeoutMs: 5_000,
    backoff: { baseMs: 100, maxMs: 1_000 },
    random: () => 1,
  });
  const answer = (room: string) => history.answered(room, (r) => handled.push(r));
  return { link, history, handled, answer };
}

describe('HistoryRequests', () => {
  it('sends one request at a time; the next goes out once the first is answered', () => {
    const { link, history, handled, answer } = setup();
    history.ask({ kind: 'newest', room: 'general' });
    history.ask({ kind: 'older', room: 'general', before: '00000005' });
    expect(link.sentFrames('getMessages')).toEqual([{ action: 'getMessages', limit: HISTORY_MAX }]);
    expect(history.has('older', 'general')).toBe(true);

    expect(answer('general')).toBe(true);
    expect(handled.map((r) => r.kind)).toEqual(['newest']);
    expect(link.sentFrames('getMessages')).toEqual([
      { action: 'getMessages', limit: HISTORY_MAX },
      { action: 'getMessages', limit: HISTORY_MAX, before: '00000005' },
    ]);
  });

  it('takes a page for another room as no answer', () => {
    const { history, handled, answer } = setup();
    history.ask({ kind: 'newest', room: 'general' });
    expect(answer('random')).toBe(false);
    expect(handled).toEqual([]);
    expect(history.has('newest', 'general')).toBe(true);
  });

  it('waits while the link is closed', () => {
    const { link, history } = setup();
    link.isOpen = false;
    history.ask({ kind: 'newest', room: 'general' });
    expect(link.sent).toEqual([]);
    expect(history.has('newest', 'general')).toBe(true);
  });

  it('drops the connection when a request gets no answer, and not once it is answered', () => {
    const { link, history, answer } = setup();
    history.ask({ kind: 'newest', room: 'general' });
    answer('general');
    vi.advanceTimersByTime(10_000);
    expect(link.drops).toBe(0);
    history.ask({ kind: 'older', room: 'general', before: '1' });
    vi.advanceTimersByTime(4_999);
    expect(link.drops).toBe(0);
    vi.advanceTimersByTime(1);
    expect(link.drops).toBe(1);
  });

  it('asks again for a newest page answered with an error, after a growing delay', () => {
    const { link, history } = setup();
    history.ask({ kind: 'newest', room: 'general' });
    history.failed();
    expect(history.has('newest', 'general')).toBe(false);
    vi.advanceTimersByTime(100);
    expect(link.sentFrames('getMessages')).toHaveLength(2);
    history.failed();
    vi.advanceTimersByTime(100);
    expect(link.sentFrames('getMessages')).toHaveLength(2); // the second wait is longer
    vi.advanceTimersByTime(100);
    expect(link.sentFrames('getMessages')).toHaveLength(3);
  });

  it('leaves a refused older page, and a newest page no longer wanted, to the reader', () => {
    const { link, history } = setup(false);
    history.ask({ kind: 'older', room: 'general', before: '1' });
    history.failed();
    history.ask({ kind: 'newest', room: 'general' });
    history.failed();
    vi.advanceTimersByTime(60_000);
    expect(link.sentFrames('getMessages')).toHaveLength(2);
  });

  it('asks again shortly for a request the stage throttled', () => {
    const { link, history } = setup();
    history.ask({ kind: 'newest', room: 'general' });
    history.throttled();
    expect(history.has('newest', 'general')).toBe(true); // queued again, first in line
    vi.advanceTimersByTime(THROTTLED_RETRY_MS - 1);
    expect(link.sentFrames('getMessages')).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(link.sentFrames('getMessages')).toHaveLength(2);
  });

  it('forgets other rooms on a move, and everything on a disconnect, timers included', () => {
    const { link, history } = setup();
    history.ask({ kind: 'newest', room: 'general' });
    history.ask({ kind: 'newest', room: 'random' });
    history.keepOnly('random');
    expect(history.has('newest', 'random')).toBe(true);
    history.failed(); // general's newest page failed: a retry is due
    history.disconnected();
    expect(history.has('newest', 'random')).toBe(false);
    vi.advanceTimersByTime(60_000);
    expect(link.drops).toBe(0);
    expect(link.sentFrames('getMessages')).toHaveLength(2);
  });
});
