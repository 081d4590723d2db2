import { describe, expect, it } from 'vitest';
import { linkify } from './linkify';

describe('linkify', () => {
  it('leaves text without URLs as one text segment', () => {
    expect(linkify('hello <b>world</b>')).toEqual([{ kind: 'text', text: 'hello <b>world</b>' }]);
  });

  it('turns http and https URLs into links and keeps the text around them', () => {
    expect(linkify('see https://example.com/a?b=1 now')).toEqual([
      { kind: 'text', text: 'see ' },
      { kind: 'link', text: 'https://example.com/a?b=1', href: 'https://example.com/a?b=1' },
      { kind: 'text', text: ' now' },
    ]);
  });

  it('leaves sentence punctuation after a URL outside the link', () => {
    const segments = linkify('Read http://example.com/x.');
    expect(segments[1]).toEqual({ kind: 'link', text: 'http://example.com/x', href: 'http://example.com/x' });
    expect(segments[2]).toEqual({ kind: 'text', text: '.' });
  });

  it('keeps a closing parenthesis that belongs to the URL', () => {
    const [, link] = linkify('(see https://en.wikipedia.org/wiki/Foo_(bar))');
    expect(link).toMatchObject({ text: 'https://en.wikipedia.org/wiki/Foo_(bar)' });
  });

  it('never links other schemes', () => {
    for (const text of ['javascript:alert(1)', 'data:text/html,<script>x</script>', 'ftp://example.com']) {
      expect(linkify(text).every((s) => s.kind === 'text')).toBe(true);
    }
  });

  it('does not let a quote end a URL inside an attribute-looking string', () => {
    const segments = linkify('<a href="https://evil.example/" onclick="x">');
    const link = segments.find((s) => s.kind === 'link');
    expect(link).toEqual({ kind: 'link', text: 'https://evil.example/', href: 'https://evil.example/' });
    expect(segments.map((s) => s.text).join('')).toBe('<a href="https://evil.example/" onclick="x">');
  });
});
