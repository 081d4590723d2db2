import { describe, expect, it } from 'vitest';
import limitsJson from '../../chalicelib/limits.json';
import {
  REPORT_REASON_MAX,
  TEXT_MAX,
  normalizeRoom,
  passwordProblem,
  roomProblem,
  textLength,
  textProblem,
  usernameProblem,
} from './limits';

describe('field rules from chalicelib/limits.json', () => {
  it('uses the shared limits, not a copy', () => {
    expect(TEXT_MAX).toBe(limitsJson.text_max);
    expect(REPORT_REASON_MAX).toBe(limitsJson.report_reason_max);
  });

  it('accepts usernames the protocol accepts and explains the rest', () => {
    expect(usernameProblem('alice.b-c_9')).toBeNull();
    expect(usernameProblem('al')).toMatch(/3 to 32/);
    expect(usernameProblem('a'.repeat(33))).toMatch(/3 to 32/);
    expect(usernameProblem('alice smith')).toMatch(/letters, digits/);
  });

  it('counts password characters, not bytes', () => {
    expect(passwordProblem('1234567')).toMatch(/at least 8/);
    expect(passwordProblem('ééééééé')).toMatch(/at least 8/);
    expect(passwordProblem('😀'.repeat(8))).toBeNull();
    expect(passwordProblem('x'.repeat(257))).toMatch(/at most 256/);
  });

  it('lower-cases and trims room names, then checks them', () => {
    expect(normalizeRoom('  Random ')).toBe('random');
    expect(roomProblem('random_2-b')).toBeNull();
    expect(roomProblem('')).not.toBeNull();
    expect(roomProblem('no spaces')).not.toBeNull();
    expect(roomProblem('x'.repeat(65))).not.toBeNull();
  });

  it('measures text in code points, like the server', () => {
    expect(textLength('😀')).toBe(1);
    expect(textProblem('😀'.repeat(TEXT_MAX))).toBeNull();
    expect(textProblem('😀'.repeat(TEXT_MAX + 1))).toMatch(/at most 4000/);
    expect(textProblem(' \n ')).toMatch(/type a message/i);
  });
});
