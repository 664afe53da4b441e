import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  registerRecordedBackbones,
  type BackboneSource,
  type LoadBackboneOptions,
} from './backbones.js';
import type { LinearHead } from './classifier.js';
import type { Preprocessing, TtaMode } from './image-pipeline.js';
import { FootprintModel } from './footprint-model.js';

export const MODEL_FORMAT = 'wildlens-footprint-model';
export const MODEL_FORMAT_VERSION = 1;
export const HEAD_FILE = 'head.bin';

export interface HeadTensorEntry {
  name: 'mean' | 'scale' | 'weights' | 'bias' | 'centroids';
  shape: number[];
  /** Byte offset in head.bin (little-endian float32). */
  offset: number;
}

export interface FootprintModelManifest {
  format: typeof MODEL_FORMAT;
  formatVersion: typeof MODEL_FORMAT_VERSION;
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
}

/** Where to read model files from (local dir, Cloud Storage, memory…). */
export interface ModelFileReader {
  readFile(relPath: string): Promise<Uint8Array>;
}

export function encodeHead(
  head: LinearHead,
  centroids: Float32Array,
): { bytes: Uint8Array; tensors: HeadTensorEntry[] } {
  const parts: [HeadTensorEntry['name'], Float32Array, number[]][] = [
    ['mean', head.mean, [head.featureDim]],
    ['scale', head.scale, [head.featureDim]],
    ['weights', head.weights, [head.featureDim, head.numClasses]],
    ['bias', head.bias, [head.numClasses]],
    ['centroids', centroids, [head.numClasses, head.featureDim]],
  ];
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
): { head: LinearHead; centroids: Float32Array } {
  const aligned = new Float32Array(bytes.slice().buffer);
  const tensor = (name: HeadTensorEntry['name']): Float32Array => {
    const entry = manifest.head.tensors.find((t) => t.name === name);
    if (!entry) throw new Error(`model head lacks tensor ${name}`);
    const size = entry.shape.reduce((a, b) => a * b, 1);
    const start = entry.offset / 4;
    if (start + size > aligned.length) throw new Error(`model head tensor ${name} out of bounds`);
    return aligned.slice(start, start + size);
  };
  const { featureDim, numClasses } = manifest.head;
  return {
    head: {
      featureDim,
      numClasses,
      mean: tensor('mean'),
      scale: tensor('scale'),
      weights: tensor('weights'),
      bias: tensor('bias'),
    },
    centroids: tensor('centroids'),
  };
}

export function validateManifest(value: unknown): FootprintModelManifest {
  const m = value as Partial<FootprintModelManifest> | null;
  if (!m || m.format !== MODEL_FORMAT) throw new Error(`not a ${MODEL_FORMAT} manifest`);
  if (m.formatVersion !== MODEL_FORMAT_VERSION)
    throw new Error(`unsupported formatVersion ${String(m.formatVersion)}`);
  if (!Array.isArray(m.labels) || m.labels.length < 2)
    throw new Error('manifest.labels must list at least 2 species');
  if (!m.backbone?.id || !m.head?.file) throw new Error('manifest lacks backbone or head');
  if (m.head.numClasses !== m.labels.length) throw new Error('head.numClasses differs from labels');
  return m as FootprintModelManifest;
}

/** Writes manifest.json + head.bin into dir (created if needed). */
export async function saveModel(
  model: FootprintModel | FootprintModelData,
  dir: string,
): Promise<void> {
  const data = model instanceof FootprintModel ? model.toData() : model;
  const { bytes, tensors } = encodeHead(data.head, data.centroids);
  const manifest: FootprintModelManifest = {
    ...data.manifest,
    head: {
      file: HEAD_FILE,
      dtype: 'float32',
      featureDim: data.head.featureDim,
      numClasses: data.head.numClasses,
      tensors,
    },
  };
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, HEAD_FILE), bytes);
  await writeFile(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

export async function readModelData(reader: ModelFileReader): Promise<FootprintModelData> {
  const manifest = validateManifest(
    JSON.parse(new TextDecoder().decode(await reader.readFile('manifest.json'))),
  );
  const { head, centroids } = decodeHead(manifest, await reader.readFile(manifest.head.file));
  // A URL backbone is known from the description its manifest records (with the weights' digest).
  registerRecordedBackbones(manifest.backbone.sources ?? []);
  return { manifest, head, centroids };
}

export interface LoadFootprintModelOptions {
  backbone?: LoadBackboneOptions;
}

/** Loads a model through any reader (e.g. a Cloud Storage bucket) and its backbone. */
export async function loadFootprintModel(
  reader: ModelFileReader,
  options: LoadFootprintModelOptions = {},
): Promise<FootprintModel> {
  return FootprintModel.create(await readModelData(reader), options.backbone);
}

export function dirReader(dir: string): ModelFileReader {
  return {
    readFile: async (relPath) => {
      const resolved = path.resolve(dir, relPath);
      if (!resolved.startsWith(path.resolve(dir) + path.sep))
        throw new Error(`path escapes model dir: ${relPath}`);
      return new Uint8Array(await readFile(resolved));
    },
  };
}

export function loadFootprintModelFromDir(
  dir: string,
  options: LoadFootprintModelOptions = {},
): Promise<FootprintModel> {
  return loadFootprintModel(dirReader(dir), options);
}
