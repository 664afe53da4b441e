import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/emulators/stack.js';
import { notFrenchBecause } from './french.js';

/** Messages the libraries under the functions answer with, as seen by the fuzzers and probes. */
const FRAMEWORK_MESSAGES = [
  'Bad Request',
  'Unauthenticated',
  'INTERNAL',
  'Permission Denied',
  'Invalid input: expected string, received undefined',
  'Invalid input: expected object, received array',
  'Too big: expected string to have <=40 characters',
  'Too small: expected number to be >=1',
  'Unrecognized key: "x"',
  'Invalid option: expected one of "renard"|"loup"',
  'Data cannot be decoded from JSON: [object Object]',
  'Unexpected end of form',
  'Malformed part header',
  'Input buffer contains unsupported image format',
  'Input image exceeds pixel limit',
  'VipsJpeg: Premature end of input file',
  'Maximum call stack size exceeded',
  'socket hang up',
];

/** The French message literals of the functions' sources (fail, ImageRejection, EndpointError, zod's fr()). */
function sourceMessages(): string[] {
  const dir = path.join(REPO_ROOT, 'functions', 'src');
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'),
  );
  const call =
    /(?:\bfail\(\s*'[a-z-]+',|new EndpointError\(\s*\d+,\s*'[a-z-]+',|new ImageRejection\(\s*'[a-z_]+',|\bfr\()\s*(['`"])((?:(?!\1)[\s\S])+)\1/g;
  return files.flatMap((f) =>
    [...readFileSync(path.join(dir, f), 'utf8').matchAll(call)].map((m) =>
      // A template's ${…} is filled at run time: its code is not the message's language.
      (m[2] as string).replace(/\$\{[^}]*\}/g, '…'),
    ),
  );
}

describe('the French-message check', () => {
  it.each(FRAMEWORK_MESSAGES)('refuses the framework message « %s »', (message) => {
    expect(notFrenchBecause(message)).not.toBeNull();
  });

  it('accepts every message literal of the functions', () => {
    const messages = sourceMessages();
    expect(messages.length).toBeGreaterThan(60);
    const refused = messages
      .map((m) => ({ m, why: notFrenchBecause(m) }))
      .filter((r) => r.why !== null);
    expect(refused).toEqual([]);
  });

  it('does not judge what a message quotes from the client', () => {
    expect(notFrenchBecause('Champ inconnu : « the data is invalid ».')).toBeNull();
    expect(notFrenchBecause('Envoyez la photo en multipart/form-data.')).toBeNull();
  });
});
