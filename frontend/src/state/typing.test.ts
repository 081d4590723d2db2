import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TYPING_DISPLAY_MS, TYPING_INTERVAL_MS } from '../limits';
import { FakeLink } from '../testing/fakeLink';
import { Typing } from './typing';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function setup() {
  const link = new FakeLink();
  let changes = 0;
  const typing = new Typing({ link, onChange: () => changes++ });
  return { link, typing, changes: () => changes };
}

describe('Typing', () => {
  it('tells the room at most once per interval', () => {
    const { link, typing } = setup();
    typing.typed();
    typing.typed();
    vi.advanceTimersByTime(TYPING_INTERVAL_MS - 1);
    typing.typed();
    expect(link.sentFrames('typing')).toHaveLength(1);
    vi.advanceTimersByTime(1);
    typing.typed();
    expect(link.sentFrames('typing')).toHaveLength(2);
  });

  it('tries again at once when the typing frame could not go out', () => {
    const { link, typing } = setup();
    link.isOpen = false;
    typing.typed();
    link.isOpen = true;
    typing.typed();
    expect(link.sentFrames('typing')).toHaveLength(1);
  });

  it('shows each name until its time is up, and says so when a line goes by itself', () => {
    const { typing, changes } = setup();
    typing.someone('bob');
    vi.advanceTimersByTime(1_000);
    typing.someone('carol');
    expect(typing.line).toBe('bob and carol are typing…');
    vi.advanceTimersByTime(TYPING_DISPLAY_MS - 1_000);
    expect(typing.line).toBe('carol is typing…');
    expect(changes()).toBe(1);
    vi.advanceTimersByTime(1_000);
    expect(typing.line).toBe('');
    expect(changes()).toBe(2);
  });

  it('drops a name when their message comes, clears for a new room, and stop() cancels the timer', () => {
    const { typing, changes } = setup();
    typing.someone('bob');
    typing.someone('carol');
    typing.sent('BOB');
    expect(typing.line).toBe('carol is typing…');
    typing.clear();
    expect(typing.line).toBe('');
    typing.someone('dave');
    typing.stop();
    vi.advanceTimersByTime(TYPING_DISPLAY_MS * 2);
    expect(changes()).toBe(0);
  });
});
