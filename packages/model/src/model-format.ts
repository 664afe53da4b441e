import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { registerRecordedBackbones, type LoadBackboneOptions } from './backbones.js';
import { FootprintModel } from './footprint-model.js';
import {
  HEAD_FILE,
  decodeHead,
  encodeHead,
  validateManifest,
  type FootprintModelData,
  type FootprintModelManifest,
} from './model-manifest.js';

export {
  HEAD_FILE,
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  decodeHead,
  encodeHead,
  validateManifest,
  type FootprintModelData,
  type FootprintModelManifest,
  type HeadTensorEntry,
} from './model-manifest.js';

/** Where to read model files from (local dir, Cloud Storage, memory…). */
export interface ModelFileReader {
  readFile(relPath: string): Promise<Uint8Array>;
}

/** Writes manifest.json + head.bin into dir (created if needed). */
export async function saveModel(
  model: FootprintModel | FootprintModelData,
  dir: string,
): Promise<void> {
  const data = model instanceof FootprintModel ? model.toData() : model;
  const { bytes, tensors } = encodeHead(data.head, data.centroids, data.bases, data.domainHead);
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
  const { head, centroids, bases, domainHead } = decodeHead(
    manifest,
    await reader.readFile(manifest.head.file),
  );
  // A URL backbone is known from the description its manifest records (with the weights' digest).
  registerRecordedBackbones(manifest.backbone.sources ?? []);
  return { manifest, head, centroids, bases, ...(domainHead ? { domainHead } : {}) };
}

export interface LoadFootprintModelOptions {
  backbone?: LoadBackboneOptions;
  /** Largest photo the model decodes (pixels); the functions pass their inspector's param. */
  maxInputPixels?: number;
}

/** Loads a model through any reader (e.g. a Cloud Storage bucket) and its backbone. */
export async function loadFootprintModel(
  reader: ModelFileReader,
  options: LoadFootprintModelOptions = {},
): Promise<FootprintModel> {
  return FootprintModel.create(
    await readModelData(reader),
    options.backbone,
    options.maxInputPixels,
  );
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
