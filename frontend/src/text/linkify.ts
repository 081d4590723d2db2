// Splits message text into plain runs and http(s) links. The view renders the
// runs as React text nodes, never as HTML, so markup in a message stays text.

export type Segment = { kind: 'text'; text: string } | { kind: 'link'; text: string; href: string };

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;
// Punctuation that usually ends the sentence around a URL rather than the URL.
const TRAILING = /[.,;:!?)\]}]+$/;

function trimTrailing(candidate: string): string {
  let url = candidate.replace(TRAILING, '');
  // Keep a closing parenthesis the URL itself opened: en.wikipedia.org/wiki/Foo_(bar)
  const opened = (url.match(/\(/g) ?? []).length;
  const closed = (url.match(/\)/g) ?? []).length;
  const cut = candidate.slice(url.length);
  if (opened > closed && cut.startsWith(')')) url += ')';
  return url;
}

function safeHref(text: string): string | null {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

/** The text as segments; links only for well-formed http and https URLs. */
export function linkify(text: string): Segment[] {
  const segments: Segment[] = [];
  let start = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const url = trimTrailing(match[0]);
    const href = safeHref(url);
    if (!href || match.index === undefined) continue;
    if (match.index > start) segments.push({ kind: 'text', text: text.slice(start, match.index) });
    segments.push({ kind: 'link', text: url, href });
    start = match.index + url.length;
  }
  if (start < text.length) segments.push({ kind: 'text', text: text.slice(start) });
  return segments;
}
