import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { readDataset, speciesIdFromFolderName } from './dataset.js';
import { FOOTPRINTS_DIR, hasShared } from './test-helpers.js';

describe('dataset', () => {
  it('maps folder names to catalogue ids', () => {
    expect(speciesIdFromFolderName('Raton_laveur')).toBe('raton-laveur');
    expect(speciesIdFromFolderName('Ecureuil')).toBe('ecureuil');
    expect(speciesIdFromFolderName('Écureuil')).toBe('ecureuil');
    expect(speciesIdFromFolderName(' Raton laveur ')).toBe('raton-laveur');
  });

  it('reads species-named subfolders', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'wl-ds-'));
    const jpg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#444' } })
      .jpeg()
      .toBuffer();
    for (const folder of ['Raton_laveur', 'Écureuil']) {
      await mkdir(path.join(dir, folder));
      await writeFile(path.join(dir, folder, 'a.jpg'), jpg);
      await writeFile(path.join(dir, folder, 'notes.txt'), 'ignored');
    }
    const dataset = await readDataset(dir);
    expect(dataset.labels).toEqual(['ecureuil', 'raton-laveur']);
    expect(dataset.images).toHaveLength(2);
    expect((await dataset.images[0]!.read()).equals(jpg)).toBe(true);
  });

  it.skipIf(!hasShared)('reads the footprints-dev manifest with groups', async () => {
    const dataset = await readDataset(FOOTPRINTS_DIR);
    expect(dataset.images).toHaveLength(285);
    expect(dataset.labels).toHaveLength(13);
    expect(dataset.labels).toContain('raton-laveur');
    expect(dataset.images.every((i) => i.group)).toBe(true);
  });
});
