import { describe, expect, it, vi } from 'vitest';
import { serverAnswers } from './health';

describe('serverAnswers', () => {
  it('asks /health without the cache and says whether it answered 2xx', async () => {
    const ok = vi.fn().mockResolvedValue(new Response('{"ok":true}', { status: 200 }));
    await expect(serverAnswers('https://api.test', ok)).resolves.toBe(true);
    expect(ok).toHaveBeenCalledWith('https://api.test/health', { cache: 'no-store' });
    const failing = vi.fn().mockResolvedValue(new Response('', { status: 502 }));
    await expect(serverAnswers('https://api.test', failing)).resolves.toBe(false);
  });

  it('says no when the server cannot be reached', async () => {
    const down = vi.fn().mockRejectedValue(new TypeError('Failed to fetch'));
    await expect(serverAnswers('https://api.test', down)).resolves.toBe(false);
  });
});
