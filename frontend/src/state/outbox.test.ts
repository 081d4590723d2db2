import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeLink } from '../testing/fakeLink';
import { makeMessage } from '../testing/fakeSocket';
import { Timelines } from './messages';
import { NO_ECHO, OFFLINE, Outbox } from './outbox';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function setup() {
  const link = new FakeLink();
  const timelines = new Timelines();
  let changes = 0;
  const outbox = new Outbox({ link, timelines, onChange: () => changes++, echoTimeoutMs: 5_000 });
  const add = (text: string, room = 'general') => {
    const added = outbox.add(room, text);
    if (!('clientId' in added)) throw new Error(added.problem);
    return added.clientId;
  };
  return { link, timelines, outbox, add, pending: (room = 'general') => timelines.get(room).pending, changes: () => changes };
}

describe('Outbox', () => {
  it('adds a trimmed message as pending with its own clientId, and refuses bad text', () => {
    const { outbox, add, pending, link } = setup();
    const a = add('  hello  ');
    const b = add('again');
    expect(a).not.toBe(b);
    expect(pending()).toMatchObject([{ clientId: a, text: 'hello', state: 'pending' }, { clientId: b }]);
    expect(outbox.add('general', '   ')).toEqual({ problem: expect.stringMatching(/type a message/i) });
    expect(link.sent).toEqual([]);
  });

  it('shows a sent message as failed when no echo comes in time', () => {
    const { outbox, add, pending, link, changes } = setup();
    const id = add('anyone?');
    outbox.transmit('general', id);
    expect(link.sentFrames('sendMessage')).toEqual([{ action: 'sendMessage', text: 'anyone?', clientId: id }]);
    vi.advanceTimersByTime(4_999);
    expect(pending()[0]?.state).toBe('pending');
    vi.advanceTimersByTime(1);
    expect(pending()[0]).toMatchObject({ state: 'failed', error: NO_ECHO });
    expect(changes()).toBe(1);
  });

  it('stops waiting once the echo arrives, and after cancel()', () => {
    const { outbox, add, pending } = setup();
    const [echoed, cancelled] = [add('one'), add('two')];
    outbox.transmit('general', echoed);
    outbox.received([makeMessage(1, { clientId: echoed })]);
    outbox.transmit('general', cancelled);
    outbox.cancel();
    vi.advanceTimersByTime(60_000);
    expect(pending().map((p) => p.state)).toEqual(['pending', 'pending']);
  });

  it('fails a message an error names, in whichever room it waits', () => {
    const { outbox, add, pending } = setup();
    const id = add('spam', 'random');
    outbox.transmit('random', id);
    outbox.failed(id, 'Slow down.');
    vi.advanceTimersByTime(60_000);
    expect(pending('random')).toMatchObject([{ state: 'failed', error: 'Slow down.' }]);
    outbox.retry('random', id);
    expect(pending('random')).toMatchObject([{ state: 'pending' }]);
    outbox.discard('random', id);
    expect(pending('random')).toEqual([]);
  });

  it('flushes what is pending, not what failed, and sends nothing while offline', () => {
    const { outbox, add, link } = setup();
    const [failed, waiting] = [add('failed'), add('waiting')];
    outbox.failed(failed, 'no');
    link.isOpen = false;
    outbox.flush('general');
    expect(link.sent).toEqual([]);
    link.isOpen = true;
    outbox.flush('general');
    expect(link.sentFrames('sendMessage').map((f) => f.clientId)).toEqual([waiting]);
  });

  it('edits and deletes by id with fresh clientIds, saying why not when offline', () => {
    const { outbox, link } = setup();
    expect(outbox.edit('00000001', '  fixed ')).toBeNull();
    expect(outbox.edit('00000001', ' ')).toMatch(/type a message/i);
    expect(outbox.remove('00000001')).toBeNull();
    const [edit] = link.sentFrames('editMessage');
    const [del] = link.sentFrames('deleteMessage');
    expect(edit).toMatchObject({ id: '00000001', text: 'fixed' });
    expect(del?.clientId).not.toBe(edit?.clientId);
    link.isOpen = false;
    expect(outbox.edit('00000001', 'again')).toBe(OFFLINE);
    expect(outbox.remove('00000001')).toBe(OFFLINE);
  });
});
