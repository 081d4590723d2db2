import { describe, expect, it } from 'vitest';
import { TYPING_DISPLAY_MS } from '../limits';
import { applyPresence, membersFrom, nextExpiry, someoneTyping, stopTyping, typingLine } from './presence';

describe('members', () => {
  it('lists a members answer once each, sorted ignoring case', () => {
    expect(membersFrom('general', ['bob', 'Alice', 'carol', 'bob']).names).toEqual(['Alice', 'bob', 'carol']);
  });

  it('adds a user who comes online and removes one who goes offline', () => {
    let members = membersFrom('general', ['bob']);
    members = applyPresence(members, 'alice', true);
    expect(members.names).toEqual(['alice', 'bob']);
    members = applyPresence(members, 'BOB', false);
    expect(members.names).toEqual(['alice']);
  });

  it('changes nothing for a repeated online or an unknown offline', () => {
    const members = membersFrom('general', ['alice']);
    expect(applyPresence(members, 'Alice', true)).toBe(members);
    expect(applyPresence(members, 'zed', false)).toBe(members);
  });
});

describe('typing line', () => {
  const now = 1_000_000;

  it('names one, two or three people, and counts more', () => {
    let typists = someoneTyping(new Map(), 'bob', now);
    expect(typingLine(typists)).toBe('bob is typing…');
    typists = someoneTyping(typists, 'alice', now);
    expect(typingLine(typists)).toBe('alice and bob are typing…');
    typists = someoneTyping(typists, 'carol', now);
    expect(typingLine(typists)).toBe('alice, bob and carol are typing…');
    typists = someoneTyping(typists, 'dave', now);
    expect(typingLine(typists)).toBe('Several people are typing…');
  });

  it(`clears a user ${TYPING_DISPLAY_MS} ms after their last typing frame`, () => {
    let typists = someoneTyping(new Map(), 'bob', now);
    typists = someoneTyping(typists, 'bob', now + 1_000); // typed again: the line stays
    expect(nextExpiry(typists)).toBe(now + 1_000 + TYPING_DISPLAY_MS);
    expect(typingLine(stopTyping(typists, now + TYPING_DISPLAY_MS))).toBe('bob is typing…');
    expect(typingLine(stopTyping(typists, now + 1_000 + TYPING_DISPLAY_MS))).toBe('');
  });

  it("clears a user when their message arrives", () => {
    const typists = someoneTyping(someoneTyping(new Map(), 'bob', now), 'alice', now);
    expect(typingLine(stopTyping(typists, now, 'Bob'))).toBe('alice is typing…');
  });
});
