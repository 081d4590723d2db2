// Where the APIs are: read from /config.json at start-up, so one build serves
// every environment (the local server and each deployed stage write their own).
// Contents that are not a valid config are a ConfigError; a failed request an HttpError.
import { HttpError } from './httpError';

export interface SiteConfig {
  apiUrl: string;
  wsUrl: string;
}

export class ConfigError extends Error {}

function checkUrl(value: unknown, field: string, schemes: string[]): string {
  if (typeof value !== 'string') throw new ConfigError(`config.json has no "${field}"`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`config.json "${field}" is not a URL: ${value}`);
  }
  if (!schemes.includes(url.protocol)) {
    throw new ConfigError(`config.json "${field}" must start with ${schemes.join(' or ')}//`);
  }
  return value.replace(/\/+$/, '');
}

/** Validate the parsed contents of config.json. */
export function parseConfig(value: unknown): SiteConfig {
  if (typeof value !== 'object' || value === null) {
    throw new ConfigError('config.json is not a JSON object');
  }
  const { apiUrl, wsUrl } = value as Record<string, unknown>;
  return {
    apiUrl: checkUrl(apiUrl, 'apiUrl', ['http:', 'https:']),
    wsUrl: checkUrl(wsUrl, 'wsUrl', ['ws:', 'wss:']),
  };
}

/** Fetch and validate /config.json from the site's own origin. */
export async function loadConfig(fetchImpl: typeof fetch = fetch): Promise<SiteConfig> {
  let response: Response;
  try {
    response = await fetchImpl('/config.json', { cache: 'no-store' });
  } catch {
    throw new HttpError('could not reach the site to read /config.json');
  }
  if (!response.ok) throw HttpError.from(response, `/config.json answered HTTP ${response.status}`);
  let value: unknown;
  try {
    value = await response.json();
  } catch {
    throw new ConfigError('/config.json is not valid JSON');
  }
  return parseConfig(value);
}
