import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { getBackboneSpec, loadBackbone, type LoadBackboneOptions } from './backbones.js';
import { l2Normalise } from './classifier.js';
import {
  DEFAULT_FEATURE_RECIPE,
  featureLength,
  fitFeaturizer,
  recipeFor,
  workingShortSide,
} from './features.js';
import {
  HEAD_FILE,
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  type FootprintModelData,
} from './model-format.js';
import { createRandom } from './random.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/**
 * ../shared relative to the repo root (read-only datasets and backbones for dev and CI);
 * WILDLENS_SHARED_DIR points elsewhere (a git worktree whose parent has no shared/).
 */
export const SHARED_DIR = process.env.WILDLENS_SHARED_DIR ?? path.resolve(repoRoot, '..', 'shared');
export const FOOTPRINTS_DIR = path.join(SHARED_DIR, 'datasets', 'footprints-dev');
export const FIELD_FOOTPRINTS_DIR = path.join(SHARED_DIR, 'datasets', 'footprints-field-dev');
export const hasShared = existsSync(path.join(FOOTPRINTS_DIR, 'manifest.json'));

if (!hasShared) {
  console.warn(
    `[@wildlens/model] ${SHARED_DIR} is absent: tests that need the real footprint photos are skipped.`,
  );
}

/**
 * A textured test photo (smooth colour fields plus seeded noise, so resizing kernels matter):
 * `width` × `height`, encoded as `format`, with an optional EXIF orientation or alpha.
 */
export async function texturedPhoto(
  width: number,
  height: number,
  options: { seed?: number; format?: 'jpeg' | 'png'; orientation?: number; alpha?: boolean } = {},
): Promise<Buffer> {
  const random = createRandom(options.seed ?? 1);
  const channels = options.alpha ? 4 : 3;
  const data = Buffer.alloc(width * height * channels);
  const [fx, fy, phase] = [random() * 0.05, random() * 0.05, random() * 6];
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * channels;
      const wave = Math.sin(x * fx + y * fy + phase);
      data[i] = Math.max(0, Math.min(255, 128 + 90 * wave + 40 * (random() - 0.5)));
      data[i + 1] = Math.max(0, Math.min(255, (x * 255) / width + 30 * (random() - 0.5)));
      data[i + 2] = Math.max(0, Math.min(255, (y * 255) / height + 30 * (random() - 0.5)));
      if (options.alpha) data[i + 3] = Math.round(255 * ((x + y) / (width + height)));
    }
  let image = sharp(data, { raw: { width, height, channels } });
  if (options.orientation) image = image.withMetadata({ orientation: options.orientation });
  return options.format === 'png' ? image.png().toBuffer() : image.jpeg({ quality: 90 }).toBuffer();
}

/**
 * A format-2 model on `backboneId` with fitted projection bases and seeded random heads: every
 * part of the serving path (views, pooling, bases, species and domain heads, calibration per
 * domain) without the minutes of training. Training records are filled so tests can check
 * what leaves the server; the backbone's sources are recorded as training records them (a URL
 * backbone, e.g. tiny-backbone.ts's, is then known to whoever reads the model).
 */
export async function syntheticFormat2Model(
  backboneId: string,
  seed = 1,
  backboneOptions: LoadBackboneOptions = {},
): Promise<FootprintModelData> {
  const backbone = await loadBackbone(backboneId, backboneOptions);
  try {
    const recipe = recipeFor(backbone, DEFAULT_FEATURE_RECIPE);
    const photos = await Promise.all(
      [0, 1, 2, 3].map((i) => texturedPhoto(320 + 40 * i, 260 + 30 * i, { seed: seed + i })),
    );
    const featurizer = await fitFeaturizer(
      photos.map((bytes) => ({ read: async () => bytes })),
      backbone,
      recipe,
    );
    featurizer.dispose();
    const channels = backboneId.split('+').map((part) => getBackboneSpec(part).featureDim);
    const featureDim = featureLength(recipe, channels);
    const random = createRandom(seed);
    const values = (n: number, scale: number, offset = 0) =>
      Float32Array.from({ length: n }, () => offset + (random() - 0.5) * scale);
    const labels = ['loup', 'lynx', 'renard'];
    const head = (classes: number) => ({
      featureDim,
      numClasses: classes,
      mean: values(featureDim, 0.01),
      scale: values(featureDim, 0.01, 0.02),
      weights: values(featureDim * classes, 0.02),
      bias: values(classes, 0.2),
    });
    const centroids = new Float32Array(labels.length * featureDim);
    for (let c = 0; c < labels.length; c++)
      centroids.set(l2Normalise(values(featureDim, 1, 0.2)), c * featureDim);
    const spec = getBackboneSpec(backboneId);
    return {
      manifest: {
        format: MODEL_FORMAT,
        formatVersion: MODEL_FORMAT_VERSION,
        version: `synthetic-${seed}`,
        createdAt: '2026-12-01T00:00:00.000Z',
        labels,
        backbone: {
          id: backboneId,
          featureDim,
          sources: backboneId.split('+').map((part) => {
            const { id, sources, license, origin } = getBackboneSpec(part);
            return { id, sources, license, origin };
          }),
        },
        preprocessing: {
          decoder: 'sharp',
          workingShortSide: workingShortSide(recipe),
          inputSize: spec.inputSize,
          normalisation: spec.preprocessing,
          crop: 'center-square',
        },
        features: recipe,
        domainCalibration: {
          domains: ['crop', 'field'],
          byDomain: {
            crop: { temperature: 1.2, identified: 0.9, notFootprint: -1 },
            field: { temperature: 1.5, identified: 1.01, notFootprint: -1 },
          },
        },
        tta: { mode: 'center', views: 1 },
        temperature: 1.3,
        thresholds: { identified: 0.9, notFootprint: -1, oodScore: 'max-centroid-cosine' },
        metrics: { crossValidation: { top1: 0.5 } },
        training: { images: 4 },
        head: { file: HEAD_FILE, dtype: 'float32', featureDim, numClasses: 3, tensors: [] },
        holdout: { ids: ['held-out-photo'] },
      },
      head: head(labels.length),
      centroids,
      bases: featurizer.bases,
      domainHead: head(2),
    };
  } finally {
    backbone.dispose();
  }
}
