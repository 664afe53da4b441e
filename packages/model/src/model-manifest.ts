/**
 * The model's manifest and head.bin layout (browser-safe: no fs, no sharp), read by the server
 * (model-format.ts) and by the on-device runtime from an offline bundle.
 */
import type { DialogueParameters } from '@wildlens/shared';
import type { BackboneSource } from './backbones.js';
import type { FeatureRecipe, ProjectionBases } from './feature-maps.js';
import type { LinearHead } from './head-math.js';
import type { TtaMode } from './image-pipeline.js';
import type { Preprocessing } from './tensor-input.js';

export const MODEL_FORMAT = 'wildlens-footprint-model';
/**
 * 2: whole-photo views and bilinear pooling (`features`, bases in head.bin). Format-1 models
 * (the averaged GAP of centred views) still load and serve.
 */
export const MODEL_FORMAT_VERSION = 2;
const READABLE_FORMAT_VERSIONS = [1, 2];
export const HEAD_FILE = 'head.bin';

export interface HeadTensorEntry {
  /** 'mean' | 'scale' | 'weights' | 'bias' | 'centroids', or `basis:<view>/<part>:mean|components`. */
  name: string;
  shape: number[];
  /** Byte offset in head.bin (little-endian float32). */
  offset: number;
}

export interface FootprintModelManifest {
  format: typeof MODEL_FORMAT;
  formatVersion: number;
  version: string;
  createdAt: string;
  /** Species ids, in the order of the head's outputs. */
  labels: string[];
  backbone: {
    id: string;
    featureDim: number;
    sources: { id: string; sources: BackboneSource[]; license: string; origin: string }[];
  };
  preprocessing: {
    decoder: 'sharp';
    /** Short side after decode + EXIF rotation, before cropping. */
    workingShortSide: number;
    inputSize: number;
    normalisation: Preprocessing;
    crop: 'center-square';
  };
  /** How photos become features (format 2); absent in format 1 (centred views, `tta`). */
  features?: FeatureRecipe;
  /**
   * Calibration per predicted domain (format 2, photos of several domains): the domain head
   * (head.bin `domain:*` tensors) tells a photo's domain, whose temperature and thresholds then
   * apply instead of the top-level ones.
   */
  domainCalibration?: {
    domains: string[];
    byDomain: Record<string, { temperature: number; identified: number; notFootprint: number }>;
  };
  /**
   * The dialogue's fitted parameters (photo correlation, identified threshold on the fused
   * posterior and conformal quantiles per predicted domain): what the API passes to
   * assessObservation. Absent in models trained before it: never identified, sets without a
   * stated coverage.
   */
  dialogue?: DialogueParameters;
  tta: { mode: TtaMode; views: number };
  temperature: number;
  thresholds: {
    /** Calibrated top-1 probability at or above which the verdict is "identified". */
    identified: number;
    /** Out-of-distribution score (max cosine similarity to class centroids) below which the verdict is "not_a_footprint". */
    notFootprint: number;
    oodScore: 'max-centroid-cosine';
    [key: string]: number | string;
  };
  metrics: Record<string, unknown>;
  training: Record<string, unknown>;
  head: {
    file: string;
    dtype: 'float32';
    featureDim: number;
    numClasses: number;
    tensors: HeadTensorEntry[];
  };
  /** Dataset image ids held out from training (for `eval` on the remaining part). */
  holdout?: { dataset?: string; ids: string[] };
}

export interface FootprintModelData {
  manifest: FootprintModelManifest;
  head: LinearHead;
  /** Row-major [numClasses, featureDim], unit rows. */
  centroids: Float32Array;
  /** PCA bases of the bilinear pooling (format 2), by `<view>/<part>`. */
  bases?: ProjectionBases;
  /** Predicts the photo's domain (manifest.domainCalibration.domains order). */
  domainHead?: LinearHead;
}

export function encodeHead(
  head: LinearHead,
  centroids: Float32Array,
  bases: ProjectionBases = {},
  domainHead?: LinearHead,
): { bytes: Uint8Array; tensors: HeadTensorEntry[] } {
  const parts: [string, Float32Array, number[]][] = [
    ['mean', head.mean, [head.featureDim]],
    ['scale', head.scale, [head.featureDim]],
    ['weights', head.weights, [head.featureDim, head.numClasses]],
    ['bias', head.bias, [head.numClasses]],
    ['centroids', centroids, [head.numClasses, head.featureDim]],
  ];
  if (domainHead)
    parts.push(
      ['domain:mean', domainHead.mean, [domainHead.featureDim]],
      ['domain:scale', domainHead.scale, [domainHead.featureDim]],
      ['domain:weights', domainHead.weights, [domainHead.featureDim, domainHead.numClasses]],
      ['domain:bias', domainHead.bias, [domainHead.numClasses]],
    );
  for (const name of Object.keys(bases).sort()) {
    const basis = bases[name] as ProjectionBases[string];
    parts.push([`basis:${name}:mean`, basis.mean, [basis.channels]]);
    parts.push([`basis:${name}:components`, basis.components, [basis.channels, basis.dim]]);
  }
  const total = parts.reduce((sum, [, data]) => sum + data.length, 0);
  const all = new Float32Array(total);
  const tensors: HeadTensorEntry[] = [];
  let offset = 0;
  for (const [name, data, shape] of parts) {
    all.set(data, offset);
    tensors.push({ name, shape, offset: offset * 4 });
    offset += data.length;
  }
  const bytes = new Uint8Array(all.buffer);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
    throw new Error('big-endian hosts are not supported');
  return { bytes, tensors };
}

export function decodeHead(
  manifest: FootprintModelManifest,
  bytes: Uint8Array,
): {
  head: LinearHead;
  centroids: Float32Array;
  bases: ProjectionBases;
  domainHead?: LinearHead;
} {
  const aligned = new Float32Array(bytes.slice().buffer);
  const tensor = (name: string): Float32Array => {
    const entry = manifest.head.tensors.find((t) => t.name === name);
    if (!entry) throw new Error(`model head lacks tensor ${name}`);
    const size = entry.shape.reduce((a, b) => a * b, 1);
    const start = entry.offset / 4;
    if (start + size > aligned.length) throw new Error(`model head tensor ${name} out of bounds`);
    return aligned.slice(start, start + size);
  };
  const { featureDim, numClasses } = manifest.head;
  const domains = manifest.domainCalibration?.domains;
  return {
    ...(domains
      ? {
          domainHead: {
            featureDim,
            numClasses: domains.length,
            mean: tensor('domain:mean'),
            scale: tensor('domain:scale'),
            weights: tensor('domain:weights'),
            bias: tensor('domain:bias'),
          },
        }
      : {}),
    head: {
      featureDim,
      numClasses,
      mean: tensor('mean'),
      scale: tensor('scale'),
      weights: tensor('weights'),
      bias: tensor('bias'),
    },
    centroids: tensor('centroids'),
    bases: Object.fromEntries(
      manifest.head.tensors
        .filter((t) => t.name.startsWith('basis:') && t.name.endsWith(':components'))
        .map((t) => {
          const name = t.name.slice('basis:'.length, -':components'.length);
          const [channels, dim] = t.shape as [number, number];
          return [
            name,
            { channels, dim, mean: tensor(`basis:${name}:mean`), components: tensor(t.name) },
          ];
        }),
    ),
  };
}

export function validateManifest(value: unknown): FootprintModelManifest {
  const m = value as Partial<FootprintModelManifest> | null;
  if (!m || m.format !== MODEL_FORMAT) throw new Error(`not a ${MODEL_FORMAT} manifest`);
  if (!READABLE_FORMAT_VERSIONS.includes(m.formatVersion as number))
    throw new Error(`unsupported formatVersion ${String(m.formatVersion)}`);
  if (!Array.isArray(m.labels) || m.labels.length < 2)
    throw new Error('manifest.labels must list at least 2 species');
  if (!m.backbone?.id || !m.head?.file) throw new Error('manifest lacks backbone or head');
  if (m.head.numClasses !== m.labels.length) throw new Error('head.numClasses differs from labels');
  return m as FootprintModelManifest;
}
