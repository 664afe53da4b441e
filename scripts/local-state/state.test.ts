import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  STATE_FILE,
  StateError,
  acquireStateLock,
  exportAtomically,
  importLosses,
  newSavedState,
  readSavedState,
  readStateLock,
  recoverInterruptedExport,
  setStateAside,
  stateLayout,
  type StateLayout,
  type StateSummary,
} from './state.js';

const SUMMARY: StateSummary = {
  activeModel: 'v1',
  trainingImages: 12,
  observations: 3,
  users: 2,
  storageObjects: 40,
};
const record = (summary = SUMMARY) =>
  newSavedState({
    reason: 'test',
    firebaseTools: '14.27.0',
    stack: { mode: 'offline', firestore: 'offline', storageRules: 'offline' },
    summary,
  });

/** What `firebase emulators:export` writes: the metadata file and one folder per emulator. */
function fakeExport(marker: string) {
  return async (dir: string): Promise<void> => {
    for (const part of ['auth_export', 'firestore_export', 'storage_export'])
      mkdirSync(path.join(dir, part), { recursive: true });
    writeFileSync(path.join(dir, 'firestore_export', 'marker'), marker);
    writeFileSync(
      path.join(dir, 'firebase-export-metadata.json'),
      JSON.stringify({
        version: '14.27.0',
        firestore: { path: 'firestore_export' },
        auth: { path: 'auth_export' },
        storage: { path: 'storage_export' },
      }),
    );
  };
}

const marker = (layout: StateLayout): string =>
  readFileSync(path.join(layout.emulators, 'firestore_export', 'marker'), 'utf8');

let layout: StateLayout;
beforeEach(() => {
  layout = stateLayout(path.join(mkdtempSync(path.join(os.tmpdir(), 'wildlens-state-')), 'state'));
});

describe('exportAtomically', () => {
  it('writes a complete export with its state record, then replaces it with the next one', async () => {
    await exportAtomically(layout, fakeExport('first'), async () => record());
    expect(marker(layout)).toBe('first');
    expect(readSavedState(layout)?.summary).toEqual(SUMMARY);

    await exportAtomically(layout, fakeExport('second'), async () => record());
    expect(marker(layout)).toBe('second');
    expect(readdirSync(layout.root).sort()).toEqual(['emulators']);
  });

  it('keeps the previous export intact when an export fails half-way', async () => {
    await exportAtomically(layout, fakeExport('good'), async () => record());
    const failing = async (dir: string): Promise<void> => {
      mkdirSync(path.join(dir, 'firestore_export'), { recursive: true });
      throw new Error('hub unreachable');
    };
    await expect(exportAtomically(layout, failing, async () => record())).rejects.toThrow(
      'hub unreachable',
    );
    expect(marker(layout)).toBe('good');
    expect(readdirSync(layout.root).sort()).toEqual(['emulators']);
  });

  it('refuses an export without firebase metadata (the hub wrote nothing usable)', async () => {
    await exportAtomically(layout, fakeExport('good'), async () => record());
    const empty = async (dir: string): Promise<void> => {
      mkdirSync(dir, { recursive: true });
    };
    await expect(exportAtomically(layout, empty, async () => record())).rejects.toThrow(
      /incomplet/,
    );
    expect(marker(layout)).toBe('good');
  });
});

describe('recoverInterruptedExport', () => {
  it('puts the previous export back when a crash came between the two renames', async () => {
    await exportAtomically(layout, fakeExport('kept'), async () => record());
    const { renameSync } = await import('node:fs');
    renameSync(layout.emulators, layout.previous);
    mkdirSync(path.join(layout.root, 'emulators.tmp-123-456'));
    recoverInterruptedExport(layout);
    expect(marker(layout)).toBe('kept');
    expect(readdirSync(layout.root).sort()).toEqual(['emulators']);
  });

  it('drops a leftover previous export once the new one is in place', async () => {
    await exportAtomically(layout, fakeExport('new'), async () => record());
    mkdirSync(layout.previous);
    recoverInterruptedExport(layout);
    expect(marker(layout)).toBe('new');
    expect(existsSync(layout.previous)).toBe(false);
  });
});

describe('readSavedState', () => {
  it('is undefined on a first start', () => {
    expect(readSavedState(layout)).toBeUndefined();
  });

  it('refuses, with the --fresh advice, an export missing a part', async () => {
    await exportAtomically(layout, fakeExport('x'), async () => record());
    const { rmSync } = await import('node:fs');
    rmSync(path.join(layout.emulators, 'storage_export'), { recursive: true });
    expect(() => readSavedState(layout)).toThrow(StateError);
    expect(() => readSavedState(layout)).toThrow(/storage.*\n.*conservé.*\n.*--fresh/s);
  });

  it('refuses an unreadable state record and an unknown format', async () => {
    await exportAtomically(layout, fakeExport('x'), async () => record());
    const file = path.join(layout.emulators, STATE_FILE);
    writeFileSync(file, '{ not json');
    expect(() => readSavedState(layout)).toThrow(/illisible/);
    writeFileSync(file, JSON.stringify({ ...record(), format: 99 }));
    expect(() => readSavedState(layout)).toThrow(/format 99/);
  });
});

describe('importLosses', () => {
  it('accepts the same state, and counts that moved a little while the stack ran', () => {
    expect(importLosses(SUMMARY, SUMMARY)).toEqual([]);
    expect(importLosses(SUMMARY, { ...SUMMARY, observations: 4, storageObjects: 38 })).toEqual([]);
  });

  it('reports another active model and a part that came back empty', () => {
    const losses = importLosses(SUMMARY, {
      activeModel: null,
      trainingImages: 0,
      observations: 3,
      users: 2,
      storageObjects: 0,
    });
    expect(losses).toHaveLength(3);
    expect(losses.join('\n')).toMatch(/modèle actif : v1 attendu, aucun relu/);
    expect(losses.join('\n')).toMatch(/images d’entraînement.*12 enregistrés, aucun relu/);
    expect(losses.join('\n')).toMatch(/fichiers \(Storage\)/);
  });
});

describe('setStateAside', () => {
  it('moves the whole folder aside, never deleting it', async () => {
    await exportAtomically(layout, fakeExport('old'), async () => record());
    const aside = setStateAside(layout, new Date('2026-11-30T12:00:00Z'));
    expect(aside).toBe(`${layout.root}.aside-2026-11-30T12-00-00-000Z`);
    expect(existsSync(layout.root)).toBe(false);
    expect(
      readFileSync(path.join(aside as string, 'emulators/firestore_export/marker'), 'utf8'),
    ).toBe('old');
  });

  it('does nothing without a saved state', () => {
    expect(setStateAside(layout)).toBeUndefined();
  });
});

describe('acquireStateLock', () => {
  it('refuses a folder held by a live process', () => {
    mkdirSync(layout.root, { recursive: true });
    writeFileSync(layout.lock, JSON.stringify({ pid: process.ppid }));
    expect(() => acquireStateLock(layout)).toThrow(/déjà utilisé.*processus/);
  });

  it('takes over a lock left by a dead process and hands back its suite to stop', () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
    mkdirSync(layout.root, { recursive: true });
    writeFileSync(layout.lock, JSON.stringify({ pid: dead, suitePid: 4242, ports: { hub: 4400 } }));
    const lock = acquireStateLock(layout);
    expect(lock.previous).toEqual({ pid: dead, suitePid: 4242, ports: { hub: 4400 } });
    lock.recordSuite(777, { hub: 4420 });
    expect(readStateLock(layout)).toEqual({
      pid: process.pid,
      suitePid: 777,
      ports: { hub: 4420 },
    });
    lock.release();
    expect(existsSync(layout.lock)).toBe(false);
  });
});
