import { mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeStaleHubExportDirs } from './live.js';

describe('removeStaleHubExportDirs', () => {
  it('removes the hub temp folders of failed exports, not a recent one nor anything else', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wildlens-hub-'));
    const now = Date.now();
    const make = (name: string, ageMs: number, file = false) => {
      const p = path.join(dir, name);
      if (file) writeFileSync(p, '');
      else mkdirSync(p);
      utimesSync(p, (now - ageMs) / 1000, (now - ageMs) / 1000);
    };
    make('firebase-export-1796041027505ChwJgQ', 2 * 3600_000);
    make('firebase-export-1796042383029cXvbMF', 60_000); // an export in progress
    make('firebase-export-metadata.json', 2 * 3600_000, true);
    make('firebase-exports', 2 * 3600_000);
    expect(removeStaleHubExportDirs(dir, now)).toEqual(['firebase-export-1796041027505ChwJgQ']);
    expect(readdirSync(dir).sort()).toEqual([
      'firebase-export-1796042383029cXvbMF',
      'firebase-export-metadata.json',
      'firebase-exports',
    ]);
  });
});
