import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_SEED_DATASETS,
  describeFinishedRun,
  readLabelledFolder,
  readLabelledFolders,
  seedDatasetsFromEnv,
  trainingRunReporter,
} from './import-dataset.js';

let root: string;
const jpeg = (shade: number) =>
  sharp({ create: { width: 96, height: 96, channels: 3, background: { r: shade, g: 90, b: 40 } } })
    .jpeg()
    .toBuffer();

/** A dataset folder: species sub-folders (one unknown), and optionally a manifest. */
async function dataset(name: string, manifest?: Record<string, unknown>): Promise<string> {
  const dir = path.join(root, name);
  for (const [label, files] of [
    ['Raton_laveur', ['a.jpg', 'b.jpg']],
    ['Renard', ['c.jpg']],
    ['Dragon', ['d.jpg']],
  ] as const) {
    mkdirSync(path.join(dir, label), { recursive: true });
    for (const [i, f] of files.entries())
      writeFileSync(path.join(dir, label, f), await jpeg(40 * i + label.length));
  }
  if (manifest) writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'wildlens-import-'));
});

describe('readLabelledFolder', () => {
  it('maps labels to species, skips unknown ones, and gives each photo its domain', async () => {
    const dir = await dataset('mes-photos');
    const folder = await readLabelledFolder(dir);
    expect(folder.domain).toBe('mes-photos');
    expect(folder.skipped).toEqual(['dragon']);
    expect(folder.images.map((i) => [i.speciesId, path.basename(i.file), i.domain])).toEqual([
      ['raton-laveur', 'a.jpg', 'mes-photos'],
      ['raton-laveur', 'b.jpg', 'mes-photos'],
      ['renard', 'c.jpg', 'mes-photos'],
    ]);
  });

  it('reads a manifest: its domain, and groups prefixed with the domain', async () => {
    const dir = await dataset('terrain', {
      domain: 'field',
      images: [
        { label: 'Renard', file: 'Renard/c.jpg', group: 'photo-1' },
        { label: 'Raton_laveur', file: 'Raton_laveur/a.jpg' },
      ],
    });
    const folder = await readLabelledFolder(dir);
    expect(folder.images).toEqual([
      {
        speciesId: 'renard',
        file: path.join(dir, 'Renard', 'c.jpg'),
        domain: 'field',
        group: 'field/photo-1',
      },
      { speciesId: 'raton-laveur', file: path.join(dir, 'Raton_laveur', 'a.jpg'), domain: 'field' },
    ]);
  });

  it('refuses two folders of one domain (their metrics could not be told apart)', async () => {
    const a = await dataset('a', { domain: 'field', images: [] });
    const b = await dataset('b', { domain: 'field', images: [] });
    await expect(readLabelledFolders([a, b])).rejects.toThrow(/même domaine « field »/);
  });
});

describe('seedDatasetsFromEnv', () => {
  it('reads a comma-separated list, "none", or defaults to the shared datasets present', () => {
    expect(seedDatasetsFromEnv({ WILDLENS_SEED_DATASET: ' /a/x , /b/y ' })).toEqual([
      '/a/x',
      '/b/y',
    ]);
    expect(seedDatasetsFromEnv({ WILDLENS_SEED_DATASET: 'none' })).toEqual([]);
    const defaults = seedDatasetsFromEnv({});
    expect(DEFAULT_SEED_DATASETS.map((d) => path.basename(d))).toEqual([
      'footprints-dev',
      'footprints-field-dev',
    ]);
    for (const d of defaults) expect(DEFAULT_SEED_DATASETS).toContain(d);
  });
});

describe('describeFinishedRun', () => {
  const at = (ms: number) => ({ toMillis: () => ms });
  it('says the model, its duration from the run document, and whether it is active', () => {
    expect(
      describeFinishedRun({
        status: 'succeeded',
        createdAt: at(0),
        finishedAt: at(72_000),
        modelVersion: 'v2',
        metrics: { top1: 0.458 },
        promoted: false,
        notPromotedReason: 'Top-1 45.0 % inférieur au modèle actif (45.8 %).',
      }),
    ).toBe(
      'Modèle v2 entraîné en 1 min 12 s, top-1 45.8 % (non activé : Top-1 45.0 % inférieur au modèle actif (45.8 %)).',
    );
    expect(describeFinishedRun({ status: 'failed', error: 'Interrompu.' })).toBe(
      'Entraînement en échec : Interrompu.',
    );
  });
});

describe('trainingRunReporter', () => {
  it('prints each phase, then count, rate and time left of the bases, the embedding and the benchmark', () => {
    const lines: string[] = [];
    let t = 0;
    const report = trainingRunReporter(
      (l) => lines.push(l),
      () => t,
    );
    const run = (fields: Record<string, unknown>) => ({
      status: 'running',
      trainingSize: 100,
      benchmarkSize: 20,
      ...fields,
    });
    const embedding = { phase: 'embedding', phaseLabel: 'Extraction des caractéristiques' };
    report(run({ phase: 'loading', phaseLabel: 'Chargement' }));
    report(run({ ...embedding, progress: { done: 0 } }));
    for (const done of [10, 20, 64, 64]) {
      t += 10_000;
      report(run({ ...embedding, fitting: { done, total: 64 }, progress: { done: 0 } }));
    }
    for (const done of [10, 50, 100]) {
      t += 20_000;
      report(run({ ...embedding, fitting: { done: 64, total: 64 }, progress: { done } }));
    }
    report(run({ phase: 'evaluating', phaseLabel: 'Évaluation', progress: { done: 100 } }));
    t += 20_000;
    report(run({ phase: 'evaluating', phaseLabel: 'Évaluation', progress: { done: 120 } }));
    expect(lines).toEqual([
      'Chargement',
      'Extraction des caractéristiques',
      'Extraction des caractéristiques : ajustement des bases de projection : 64/64 photos · 3.2/s',
      'Extraction des caractéristiques : 50/100 photos · 2.5/s · reste ~20 s',
      'Extraction des caractéristiques : 100/100 photos · 2.5/s',
      'Évaluation',
      'Évaluation sur le banc d’essai : 20/20 photos · 1.0/s',
    ]);
  });
});
