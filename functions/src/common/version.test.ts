import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FUNCTIONS_VERSION, functionsPackageJson } from './version.js';

describe('functions version', () => {
  it("reads the functions' own package.json", () => {
    expect(FUNCTIONS_VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('finds it one level up, as in the deployed bundle (lib/index.js at the source root)', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'wl-version-'));
    mkdirSync(path.join(root, 'workspace', 'lib'), { recursive: true });
    writeFileSync(
      path.join(root, 'workspace', 'package.json'),
      JSON.stringify({ name: '@wildlens/functions', version: '9.9.9' }),
    );
    // Another package.json above it (the monorepo's) must not be taken instead.
    writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'wildlens' }));
    expect(functionsPackageJson(path.join(root, 'workspace', 'lib'))).toBe(
      path.join(root, 'workspace', 'package.json'),
    );
    expect(() => functionsPackageJson(root)).toThrow(/introuvable/);
  });
});
