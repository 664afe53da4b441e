import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NEVER_IDENTIFIED, assessObservation, loadSpeciesCatalog } from '@wildlens/shared';
import { initBackend } from './backend.js';
import { DEFAULT_FEATURE_RECIPE } from './feature-maps.js';
import { MemoryEmbeddingCache } from './embedding-cache.js';
import type { FootprintModel, Prediction } from './footprint-model.js';
import {
  dirReader,
  loadFootprintModel,
  loadFootprintModelFromDir,
  saveModel,
} from './model-format.js';
import { tinyRecipeBackbones, type TinyRecipeBackbones } from './tiny-backbone.js';
import { trainFootprintModel } from './training.js';

/** Three visually distinct synthetic "species": enough to exercise the whole pipeline without ../shared. */
async function syntheticImage(kind: number, i: number): Promise<Buffer> {
  const colours = ['#a0522d', '#2f4f4f', '#d2b48c'];
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="240"><rect width="100%" height="100%" fill="${colours[kind]}"/>${
    kind === 0
      ? `<circle cx="${120 + i * 5}" cy="120" r="60" fill="#3b2a1a"/>`
      : kind === 1
        ? `<rect x="${60 + i * 4}" y="40" width="60" height="160" fill="#eee"/>`
        : `<path d="M20 200 L150 ${30 + i * 3} L280 200 Z" fill="#111"/>`
  }</svg>`;
  return sharp(Buffer.from(svg)).jpeg().toBuffer();
}

/** The default recipe with a smaller whole view: the synthetic photos are 300×240. */
const FEATURES = { ...DEFAULT_FEATURE_RECIPE, wholeLongSide: 256 };

/**
 * The model's behaviour (predictions, saved format, concurrency, tensors, crops, dialogue) on the
 * tiny stand-ins of the default recipe's two backbones (tiny-backbone.ts): the same kinds of
 * parts, maps and bases as the real ones, in a fraction of a second. That the real backbones
 * learn from real photos is e2e (tests/e2e/model-training.test.ts).
 */
describe('FootprintModel', () => {
  let tiny: TinyRecipeBackbones;
  let model: FootprintModel;
  let dir: string;
  const images: { id: string; label: string; read: () => Promise<Buffer> }[] = [];
  const embeddingCache = new MemoryEmbeddingCache();

  beforeAll(async () => {
    await initBackend();
    tiny = await tinyRecipeBackbones();
    for (let kind = 0; kind < 3; kind++)
      for (let i = 0; i < 6; i++) {
        const bytes = await syntheticImage(kind, i);
        images.push({
          id: `${kind}-${i}`,
          label: ['castor', 'loup', 'ours'][kind] as string,
          read: async () => bytes,
        });
      }
    ({ model } = await trainFootprintModel({
      backboneId: tiny.ensembleId,
      backboneOptions: tiny.backboneOptions,
      features: FEATURES,
      images,
      calibrationFolds: 3,
      syntheticNegatives: 6,
      head: { epochs: 60 },
      embeddingCache,
    }));
    dir = await mkdtemp(path.join(os.tmpdir(), 'wl-model-'));
    await saveModel(model, dir);
  });

  afterAll(() => model?.dispose());

  it('predicts every label sorted, with a verdict and timings', async () => {
    const p = await model.predict(await images[0]!.read());
    expect(p.top.map((t) => t.speciesId).sort()).toEqual(['castor', 'loup', 'ours']);
    expect(p.top[0]!.probability).toBeGreaterThanOrEqual(p.top[1]!.probability);
    expect(Object.values(p.probabilities).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(['identified', 'uncertain', 'not_a_footprint']).toContain(p.verdict);
    expect(p.timingsMs.preprocess).toBeGreaterThan(0);
    expect(p.timingsMs.inference).toBeGreaterThan(0);
    expect(p.top[0]!.speciesId).toBe('castor');
  });

  it('round-trips through the saved format with identical predictions', async () => {
    const loaded = await loadFootprintModelFromDir(dir, { backbone: tiny.backboneOptions });
    expect(loaded.manifest.format).toBe('wildlens-footprint-model');
    expect(loaded.manifest.formatVersion).toBe(2);
    expect(loaded.manifest.labels).toEqual(['castor', 'loup', 'ours']);
    for (const image of images.slice(0, 18).filter((_, i) => i % 5 === 0)) {
      const bytes = await image.read();
      const [a, b] = [await model.predict(bytes), await loaded.predict(bytes)];
      expect(b.probabilities).toEqual(a.probabilities);
      expect(b.verdict).toBe(a.verdict);
    }
    loaded.dispose();
  });

  it('loads through an abstract reader and refuses paths outside the model dir', async () => {
    const reads: string[] = [];
    const base = dirReader(dir);
    const loaded = await loadFootprintModel(
      { readFile: (p) => (reads.push(p), base.readFile(p)) },
      { backbone: tiny.backboneOptions },
    );
    expect(reads).toEqual(['manifest.json', 'head.bin']);
    loaded.dispose();
    await expect(base.readFile('../etc/passwd')).rejects.toThrow(/escapes/);
  });

  it('serves concurrent requests with one shared model and leaks no tensors', async () => {
    const bytes = await Promise.all(images.map((i) => i.read()));
    const sequential: Prediction[] = [];
    for (const b of bytes.slice(0, 6)) sequential.push(await model.predict(b));
    const before = tf.memory().numTensors;
    const concurrent = await Promise.all(bytes.slice(0, 6).map((b) => model.predict(b)));
    const batch = await model.predictBatch(bytes.slice(0, 6));
    expect(tf.memory().numTensors).toBe(before);
    concurrent.forEach((p, i) => {
      expect(p.probabilities).toEqual(sequential[i]!.probabilities);
      for (const label of Object.keys(p.probabilities))
        expect(batch[i]!.probabilities[label]).toBeCloseTo(p.probabilities[label]!, 4);
    });
  });

  it('uploads its projection bases at load (warm-up), keeps them between requests and frees them when disposed', async () => {
    const before = tf.memory().numTensors;
    const loaded = await loadFootprintModelFromDir(dir, { backbone: tiny.backboneOptions });
    // The backbone is shared with `model`: what loading adds is the bases, uploaded by the warm-up.
    const afterLoad = tf.memory().numTensors;
    expect(afterLoad).toBeGreaterThan(before);
    const photo = await images[0]!.read();
    await loaded.predict(photo);
    await loaded.predict(photo);
    expect(tf.memory().numTensors).toBe(afterLoad);
    loaded.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('classifies a framed region as a crop, through the crop calibration', async () => {
    const photo = await images[3]!.read();
    const whole = await model.predict(photo);
    const framed = await model.predict(photo, {
      region: { x: 0.2, y: 0.1, width: 0.5, height: 0.8 },
    });
    expect(framed.domain).toBe('crop');
    expect(Object.values(framed.probabilities).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(framed.oodScore).not.toBe(whole.oodScore);
    await expect(
      model.predict(photo, { region: { x: 0.8, y: 0, width: 0.5, height: 0.5 } }),
    ).rejects.toThrow(/not inside the photo/);
  });

  it('stores the dialogue parameters in the manifest, which the dialogue then uses', async () => {
    const loaded = await loadFootprintModelFromDir(dir, { backbone: tiny.backboneOptions });
    const parameters = loaded.manifest.dialogue;
    expect(parameters).toEqual(model.manifest.dialogue);
    expect(parameters?.coverage).toBe(0.9);
    const p = await loaded.predict(await images[0]!.read());
    const result = assessObservation({
      photos: [{ probabilities: p.probabilities }],
      parameters,
      species: loadSpeciesCatalog().species,
    });
    expect(result.candidates.coverage).toBe(0.9);
    expect(result.candidates.speciesIds.length).toBeGreaterThan(0);
    loaded.dispose();
  });

  it('an uncalibrated model never says "identified"', async () => {
    const { model: uncalibrated } = await trainFootprintModel({
      backboneId: tiny.ensembleId,
      backboneOptions: tiny.backboneOptions,
      features: FEATURES,
      images,
      calibrationFolds: 0,
      syntheticNegatives: 0,
      head: { epochs: 5 },
      embeddingCache,
      bases: model.toData().bases,
    });
    expect(uncalibrated.manifest.thresholds.identified).toBe(NEVER_IDENTIFIED);
    expect(uncalibrated.manifest.dialogue).toBeUndefined();
    expect((await uncalibrated.predict(await images[0]!.read())).verdict).not.toBe('identified');
    uncalibrated.dispose();
  });

  it('rejects a corrupt upload with an error, not a crash', async () => {
    await expect(model.predict(Buffer.from('not an image'))).rejects.toThrow();
  });
});
