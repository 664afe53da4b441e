import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { domainOfDataset, readDataset, readDatasets, speciesIdFromFolderName } from './dataset.js';
import { FIELD_FOOTPRINTS_DIR, FOOTPRINTS_DIR, hasShared } from './test-helpers.js';
import { NEEDS } from '../../../tests/requirements.js';

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

  it("names a dataset's domain: declared, known shared dataset, else the folder name", () => {
    expect(domainOfDataset('/x/footprints-dev')).toBe('crop');
    expect(domainOfDataset('/x/footprints-field-dev/')).toBe('field');
    expect(domainOfDataset('/x/Mes_Photos 2026')).toBe('mes-photos-2026');
    expect(domainOfDataset('/x/footprints-dev', 'field')).toBe('field');
    expect(domainOfDataset('/x/footprints-dev', 'Not A Slug')).toBe('crop');
  });

  it('merges several datasets, each image keeping its domain, ids and groups kept apart', async () => {
    const jpg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#444' } })
      .jpeg()
      .toBuffer();
    const roots: string[] = [];
    for (const [name, group] of [
      ['gros-plans', 'g1'],
      ['terrain', 'g1'],
    ] as const) {
      const dir = path.join(await mkdtemp(path.join(os.tmpdir(), 'wl-ds-')), name);
      await mkdir(path.join(dir, 'Loup'), { recursive: true });
      await writeFile(path.join(dir, 'Loup', 'a.jpg'), jpg);
      await writeFile(
        path.join(dir, 'manifest.json'),
        JSON.stringify({ images: [{ label: 'Loup', file: 'Loup/a.jpg', group }] }),
      );
      roots.push(dir);
    }
    const merged = await readDatasets(roots);
    expect(merged.images.map((i) => [i.id, i.group, i.domain])).toEqual([
      ['gros-plans/Loup/a.jpg', 'gros-plans/g1', 'gros-plans'],
      ['terrain/Loup/a.jpg', 'terrain/g1', 'terrain'],
    ]);
    // One dataset alone keeps its own ids (models record held-out ids).
    expect((await readDatasets([roots[0]!])).images[0]!.id).toBe('Loup/a.jpg');
    await expect(readDatasets([roots[0]!, roots[0]!])).rejects.toThrow(/domain/);
  });

  it.skipIf(!hasShared)(
    'reads both shared datasets as one set with two domains',
    NEEDS.shared,
    async () => {
      const merged = await readDatasets([FOOTPRINTS_DIR, FIELD_FOOTPRINTS_DIR]);
      expect(merged.images).toHaveLength(285 + 1035);
      expect(new Set(merged.images.map((i) => i.domain))).toEqual(new Set(['crop', 'field']));
      expect(merged.labels).toHaveLength(13);
    },
  );

  it.skipIf(!hasShared)('reads the footprints-dev manifest with groups', NEEDS.shared, async () => {
    const dataset = await readDataset(FOOTPRINTS_DIR);
    expect(dataset.images).toHaveLength(285);
    expect(dataset.labels).toHaveLength(13);
    expect(dataset.labels).toContain('raton-laveur');
    expect(dataset.images.every((i) => i.group)).toBe(true);
  });
});
