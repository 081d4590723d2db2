import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from './config';

const good = { apiUrl: 'https://abc.execute-api.us-east-1.amazonaws.com/api/', wsUrl: 'wss://def.execute-api.us-east-1.amazonaws.com/api' };

function answer(status: number, body: string): typeof fetch {
  return async () => new Response(body, { status });
}

describe('config.json', () => {
  it('accepts the two URLs and drops a trailing slash', () => {
    expect(parseConfig(good)).toEqual({
      apiUrl: 'https://abc.execute-api.us-east-1.amazonaws.com/api',
      wsUrl: 'wss://def.execute-api.us-east-1.amazonaws.com/api',
    });
  });

  it('says which field is wrong', () => {
    expect(() => parseConfig({ ...good, wsUrl: undefined })).toThrow(/no "wsUrl"/);
    expect(() => parseConfig({ ...good, wsUrl: 'https://x' })).toThrow(/"wsUrl" must start with ws: or wss:/);
    expect(() => parseConfig({ ...good, apiUrl: 'nope' })).toThrow(/"apiUrl" is not a URL/);
    expect(() => parseConfig('x')).toThrow(ConfigError);
  });

  it('is fetched from /config.json and reports HTTP and JSON failures', async () => {
    await expect(loadConfig(answer(200, JSON.stringify(good)))).resolves.toMatchObject({ wsUrl: good.wsUrl });
    await expect(loadConfig(answer(404, 'missing'))).rejects.toThrow(/HTTP 404/);
    await expect(loadConfig(answer(200, '<html>'))).rejects.toThrow(/not valid JSON/);
  });
});
