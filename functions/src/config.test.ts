import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAppCheckFlag } from './config.js';

/** Values of a functions/.env file (KEY=value lines). */
function envFile(name: string): Record<string, string> {
  const text = readFileSync(new URL(`../${name}`, import.meta.url), 'utf8');
  return Object.fromEntries(
    text
      .split('\n')
      .filter((line) => /^[A-Z0-9_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

describe('deployed configuration (issue 13, finding 3)', () => {
  it('enforces App Check in production, and only the emulators’ demo project opts out', () => {
    expect(envFile('.env').WILDLENS_ENFORCE_APP_CHECK).toBe('true');
    expect(envFile('.env.demo-wildlens')).toEqual({ WILDLENS_ENFORCE_APP_CHECK: 'false' });
  });

  it('gives anonymous accounts a lower quota and bounds the whole service', () => {
    const env = envFile('.env');
    const perMinute = Number(env.WILDLENS_IDENTIFY_PER_MINUTE);
    expect(Number(env.WILDLENS_IDENTIFY_ANONYMOUS_PER_MINUTE)).toBeLessThan(perMinute);
    expect(Number(env.WILDLENS_IDENTIFY_ANONYMOUS_PER_DAY)).toBeLessThan(
      Number(env.WILDLENS_IDENTIFY_PER_DAY),
    );
    const ceiling =
      Number(env.WILDLENS_IDENTIFY_INSTANCE_PER_MINUTE) *
      Number(env.WILDLENS_IDENTIFY_MAX_INSTANCES);
    expect(ceiling).toBeGreaterThan(0);
    expect(Number(env.WILDLENS_ANONYMOUS_RETENTION_DAYS)).toBeGreaterThan(0);
  });
});

describe('App Check flag fails closed (issue 20, finding 1)', () => {
  it('only an explicit false turns enforcement off', () => {
    for (const raw of ['false', 'FALSE', ' False ']) {
      expect(parseAppCheckFlag(raw), raw).toEqual({ enforce: false });
    }
  });

  it('true in any case keeps it on without a warning', () => {
    for (const raw of ['true', 'TRUE', 'True ']) {
      expect(parseAppCheckFlag(raw), raw).toEqual({ enforce: true });
    }
  });

  it('anything unreadable keeps it on and says what was read', () => {
    for (const raw of ['', ' ', 'flase', 'fasle', '0', 'no', 'off', 'false # prod', '"false"']) {
      expect(parseAppCheckFlag(raw), raw).toEqual({
        enforce: true,
        unreadable: JSON.stringify(raw),
      });
    }
    // Unset (the CLI's analysis of the functions, a line deleted from .env): on, nothing to report.
    expect(parseAppCheckFlag(undefined)).toEqual({ enforce: true });
  });
});
