import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeLink } from '../testing/fakeLink';
import { ReadMarker } from './readMarker';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function setup() {
  const link = new FakeLink();
  const open = { room: 'general', id: undefined as string | undefined };
  const marker = new ReadMarker({ link, newest: () => ({ ...open }), intervalMs: 2_000 });
  const marked = () => link.sentFrames('markRead').map((f) => f.id);
  return { link, open, marker, marked };
}

describe('ReadMarker', () => {
  it('marks the newest message shown, never the same one twice', () => {
    const { open, marker, marked } = setup();
    marker.mark(); // nothing shown yet
    open.id = '00000003';
    marker.mark();
    vi.advanceTimersByTime(5_000);
    marker.mark();
    expect(marked()).toEqual(['00000003']);
  });

  it('marks at most once per interval, the newest when the interval is up', () => {
    const { open, marker, marked } = setup();
    open.id = '00000001';
    marker.mark();
    open.id = '00000002';
    marker.mark();
    open.id = '00000003';
    marker.mark();
    expect(marked()).toEqual(['00000001']);
    vi.advanceTimersByTime(2_000);
    expect(marked()).toEqual(['00000001', '00000003']);
  });

  it('marks again in another room, sends nothing while offline, and stop() cancels the wait', () => {
    const { link, open, marker, marked } = setup();
    open.id = '00000005';
    marker.mark();
    open.room = 'random';
    open.id = '00000004';
    vi.advanceTimersByTime(2_000);
    marker.mark();
    expect(marked()).toEqual(['00000005', '00000004']);
    open.id = '00000009';
    marker.mark(); // waits for the interval
    marker.stop();
    vi.advanceTimersByTime(10_000);
    link.isOpen = false;
    marker.mark();
    expect(marked()).toEqual(['00000005', '00000004']);
  });
});
