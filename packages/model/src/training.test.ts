/**
 * The training logic on a tiny backbone (tiny-backbone.ts): which photos are embedded, cached
 * and embedded again, the per-domain figures, the saved format, the bases cache. Seconds, not
 * minutes. That a real backbone learns from real photos (held-out accuracy, calibration, domain
 * head) is tested on ../shared in tests/e2e/model-training.test.ts, beside the other real
 * training runs, with budgets sized for a busy machine.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { loadBackbone, resolveBackboneId, type Backbone } from './backbones.js';
import { MemoryEmbeddingCache, sha256Hex, type EmbeddingCache } from './embedding-cache.js';
import {
  DEFAULT_FEATURE_RECIPE,
  PhotoFeaturizer,
  type BasesCache,
  type ProjectionBases,
} from './features.js';
import { loadFootprintModelFromDir, saveModel } from './model-format.js';
import { tinySpatialBackbone, tinyUrlBackbone } from './tiny-backbone.js';
import {
  MIRROR_VIEW,
  PHOTO_VIEW,
  embedImages,
  prepareFeaturizer,
  trainFootprintModel,
  type TrainingImage,
} from './training.js';

/** Counts cache misses so the test can tell which images were (re-)embedded. */
class CountingCache implements EmbeddingCache {
  readonly inner = new MemoryEmbeddingCache();
  misses = 0;
  async get(key: string) {
    const v = await this.inner.get(key);
    if (!v) this.misses++;
    return v;
  }
  set(key: string, v: Float32Array) {
    return this.inner.set(key, v);
  }
}

const LABELS = ['castor', 'ecureuil', 'lapin', 'rat'];
const COLOURS = ['#8b4513', '#2e8b57', '#dcdcdc', '#4682b4'];

/** A synthetic photo: one colour and shape per species; field photos are larger, with clutter. */
async function photo(kind: number, i: number, domain: 'crop' | 'field'): Promise<Buffer> {
  const [w, h] = domain === 'crop' ? [240, 200] : [640, 480];
  const clutter =
    domain === 'field'
      ? Array.from(
          { length: 12 },
          (_, k) =>
            `<rect x="${(k * 53 + i * 17) % w}" y="${(k * 37 + i * 29) % h}" width="40" height="18" fill="#${(0x556b2f + k * 0x0a0a0a).toString(16).slice(0, 6)}"/>`,
        ).join('')
      : '';
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="100%" height="100%" fill="${COLOURS[kind]}"/>${clutter}<circle cx="${w / 3 + i * 8}" cy="${h / 2}" r="${h / 7 + kind * 12}" fill="#202020"/></svg>`;
  return sharp(Buffer.from(svg)).jpeg().toBuffer();
}

async function photos(perLabel: number, domain: 'crop' | 'field'): Promise<TrainingImage[]> {
  const out: TrainingImage[] = [];
  for (const [kind, label] of LABELS.entries())
    for (let i = 0; i < perLabel; i++) {
      const bytes = await photo(kind, i, domain);
      const id = `${domain}-${label}-${i}`;
      out.push({ id, label, group: id, domain, read: async () => bytes });
    }
  return out;
}

let tiny: Awaited<ReturnType<typeof tinyUrlBackbone>>;
beforeAll(async () => {
  await initBackend();
  tiny = await tinyUrlBackbone();
});
afterAll(() => tiny.dispose());

describe('training', () => {
  it('embeds each photo under every row once, and a retrain with the same bases only the added ones', async () => {
    const images = await photos(6, 'crop');
    const first = images.filter((_, i) => i % 6 !== 5);
    const cache = new CountingCache();
    const { model, metrics } = await trainFootprintModel({
      ...tiny,
      images: first,
      embeddingCache: cache,
      calibrationFolds: 3,
      syntheticNegatives: 4,
      head: { epochs: 30 },
    });
    const views = (model.manifest.training.rows as string[]).length;
    expect(views).toBeGreaterThan(0);
    // Each training image under every row (photo, mirror), plus the synthetic negatives (photo only).
    expect(cache.misses).toBe(first.length * views + 4);
    const cv = metrics.crossValidation!;
    expect(cv.n).toBe(first.length);
    const { bases } = model.toData();
    model.dispose();

    // Retrain after adding one photo per species with the same bases (as the trainer reuses the
    // active model's): only those are embedded.
    cache.misses = 0;
    const retrained = await trainFootprintModel({
      ...tiny,
      images,
      embeddingCache: cache,
      bases,
      calibrationFolds: 3,
      syntheticNegatives: 0,
      head: { epochs: 30 },
    });
    expect(cache.misses).toBe((images.length - first.length) * views);
    expect(retrained.metrics.featurizer).toBe(metrics.featurizer);
    retrained.model.dispose();
  });

  it('reports each domain on the right photos and round-trips through the model format', async () => {
    // MIN_DOMAIN_SAMPLES (20) photos of each domain: below, no per-domain calibration.
    const crops = await photos(6, 'crop');
    const fields = await photos(6, 'field');
    const images = [...crops, ...fields];
    const { model, metrics } = await trainFootprintModel({
      ...tiny,
      images,
      features: { ...DEFAULT_FEATURE_RECIPE, wholeLongSide: 256 },
      calibrationFolds: 3,
      syntheticNegatives: 4,
      head: { epochs: 30 },
    });

    // Every figure exists for the whole set and for each domain, on the right photos.
    const cv = metrics.crossValidation!;
    expect(Object.keys(cv.byDomain).sort()).toEqual(['crop', 'field']);
    expect(cv.byDomain.crop!.n).toBe(crops.length);
    expect(cv.byDomain.field!.n).toBe(fields.length);
    expect(cv.n).toBe(images.length);
    expect(metrics.imagesByDomain).toEqual({ crop: crops.length, field: fields.length });
    // One calibration per predicted domain.
    const manifest = model.manifest;
    expect(manifest.formatVersion).toBe(2);
    expect(manifest.domainCalibration?.domains).toEqual(['crop', 'field']);

    // Saved and loaded, the model answers exactly as before.
    const probe = [crops[0]!, crops[7]!, fields[2]!, fields[13]!];
    const predictions = await Promise.all(probe.map(async (i) => model.predict(await i.read())));
    const dir = await mkdtemp(path.join(os.tmpdir(), 'wildlens-multi-'));
    try {
      await saveModel(model, dir);
      const loaded = await loadFootprintModelFromDir(dir, { backbone: tiny.backboneOptions });
      expect(loaded.manifest.features).toEqual(manifest.features);
      for (const [k, image] of probe.entries()) {
        const again = await loaded.predict(await image.read());
        expect(again.domain).toBe(predictions[k]!.domain);
        expect(again.verdict).toBe(predictions[k]!.verdict);
        for (const label of manifest.labels)
          expect(again.probabilities[label]).toBeCloseTo(predictions[k]!.probabilities[label]!, 5);
      }
      loaded.dispose();
    } finally {
      model.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('projection bases cache', () => {
  it('fits the bases once for a backbone, recipe and sample, then reads them back', async () => {
    const images = await photos(3, 'crop');
    const stored = new Map<string, ProjectionBases>();
    let fits = 0;
    const cache: BasesCache = {
      get: async (key) => stored.get(key),
      set: async (key, bases) => {
        fits++;
        stored.set(key, bases);
      },
    };
    const { id } = await resolveBackboneId(tiny.backboneId);
    const backbone = await loadBackbone(id, tiny.backboneOptions);
    try {
      const features = { ...DEFAULT_FEATURE_RECIPE, wholeLongSide: 256 };
      const first = await prepareFeaturizer(images.slice(0, 6), backbone, {
        features,
        basesCache: cache,
      });
      const again = await prepareFeaturizer(images.slice(0, 6).reverse(), backbone, {
        features,
        basesCache: cache,
      });
      expect(fits).toBe(1);
      expect(again.key).toBe(first.key);
      // Another sample is another set of bases.
      await prepareFeaturizer(images.slice(6, 12), backbone, { features, basesCache: cache });
      expect(fits).toBe(2);
    } finally {
      backbone.dispose();
    }
  });
});

/** A row's bytes: rows compared bit for bit. */
const bitsOf = (row: Float32Array | undefined) =>
  row ? new Uint8Array(row.buffer, row.byteOffset, row.byteLength) : undefined;

/** Memory bases cache, counting fits. */
function memoryBasesCache(): BasesCache & { fits: number } {
  const stored = new Map<string, ProjectionBases>();
  return {
    fits: 0,
    get: async (key) => stored.get(key),
    async set(key, bases) {
      this.fits++;
      stored.set(key, bases);
    },
  };
}

describe('feature maps kept from the bases fit', () => {
  // Bilinear pooling (the default recipe's), on a backbone that has feature maps.
  const features = { ...DEFAULT_FEATURE_RECIPE, wholeLongSide: 256, bilinearDim: 8 };
  let loaded: Backbone;
  /** Feature map computations (one per rendered view: each is a run of the backbone). */
  let runs = 0;
  let backbone: Backbone;
  beforeAll(async () => {
    loaded = await tinySpatialBackbone();
    const spatialParts = loaded.spatialParts!.bind(loaded);
    backbone = {
      ...loaded,
      spatialParts: (...args) => {
        runs++;
        return spatialParts(...args);
      },
    };
  });
  afterAll(() => loaded.dispose());

  it('gives the sample photos their photo rows without the backbone, bit for bit, and frees them', async () => {
    // Two photo sizes (crops 240 × 200, field photos 640 × 480): whole views of two shapes.
    const images = [...(await photos(2, 'crop')), ...(await photos(2, 'field'))];
    const tensorsBefore = tf.memory().numTensors;
    runs = 0;
    const reusing = await prepareFeaturizer(images, backbone, { features });
    expect(reusing.recipe.pooling).toContain('bilinear');
    expect(Object.keys(reusing.bases).length).toBeGreaterThan(0);
    const fitRuns = runs; // every photo (all are in the sample), each of its views once
    expect(fitRuns).toBeGreaterThanOrEqual(images.length);
    const kept = reusing.keptMapsStats();
    expect(kept.photos).toBe(images.length);
    expect(kept.bytes).toBeGreaterThan(0);

    runs = 0;
    const reused = await embedImages(images, reusing);
    // Only the mirror rows ran the backbone: as many runs as the fit's.
    expect(runs).toBe(fitRuns);
    expect(reusing.keptMapsStats()).toEqual({ photos: 0, bytes: 0 });

    // The same bases, nothing kept: both rows of every photo through the backbone.
    const plain = new PhotoFeaturizer(backbone, reusing.recipe, reusing.bases);
    expect(plain.key).toBe(reusing.key);
    runs = 0;
    const computed = await embedImages(images, plain);
    expect(runs).toBe(2 * fitRuns);
    for (const [i, row] of reused.entries())
      for (const view of [PHOTO_VIEW, MIRROR_VIEW]) {
        expect(row.views.get(view)?.length).toBeGreaterThan(0);
        expect(bitsOf(row.views.get(view))).toEqual(bitsOf(computed[i]!.views.get(view)));
      }
    // Kept maps live in JS memory: no tensor is left once the featurizers are disposed.
    reusing.dispose();
    plain.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('keeps nothing when the bases are given or cached, and drops kept maps of cached rows', async () => {
    const images = await photos(2, 'crop');
    const basesCache = memoryBasesCache();
    const cache = new MemoryEmbeddingCache();
    const fitted = await prepareFeaturizer(images, backbone, { features, basesCache });
    expect(basesCache.fits).toBe(1);
    expect(fitted.keptMapsStats().photos).toBe(images.length);
    await embedImages(images, fitted, { cache });

    const fromCache = await prepareFeaturizer(images, backbone, { features, basesCache });
    expect(basesCache.fits).toBe(1);
    expect(fromCache.key).toBe(fitted.key);
    expect(fromCache.keptMapsStats().photos).toBe(0);
    const given = await prepareFeaturizer(images, backbone, { features, bases: fitted.bases });
    expect(given.keptMapsStats().photos).toBe(0);
    const declined = await prepareFeaturizer(images, backbone, { features, keepSampleMaps: false });
    expect(declined.keptMapsStats().photos).toBe(0);
    // A shard keeps the maps of its own photos only.
    const own = await Promise.all(images.slice(0, 3).map(async (i) => sha256Hex(await i.read())));
    const shard = await prepareFeaturizer(images, backbone, {
      features,
      keepSampleMaps: new Set(own),
    });
    expect(shard.keptMapsStats().photos).toBe(own.length);
    expect(own.every((sha) => shard.hasKeptMaps(sha))).toBe(true);

    // Fitted again while the embedding cache holds every row: the kept maps go unused, and go.
    const again = await prepareFeaturizer(images, backbone, { features });
    expect(again.key).toBe(fitted.key);
    expect(again.keptMapsStats().photos).toBe(images.length);
    runs = 0;
    await embedImages(images, again, { cache });
    expect(runs).toBe(0);
    expect(again.keptMapsStats().photos).toBe(0);
    for (const f of [fitted, fromCache, given, declined, shard, again]) f.dispose();
  });
});
