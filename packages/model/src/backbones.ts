import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfc from '@tensorflow/tfjs-converter';
import { initBackend } from './backend.js';
import { MOBILENET_V1_075_SHA256 } from './backbone-digests.js';
import { foldConvChain } from './fused-chain.js';
import { adaptInput } from './ensemble-input.js';
import type { Preprocessing } from './tensor-input.js';
import {
  checkUrlBackboneWeights,
  isUrlBackboneId,
  isUrlBackboneParam,
  parseUrlBackboneParam,
  registerUrlBackbone,
  urlBackboneDescriptorSchema,
  urlBackboneEntry,
  type UrlBackboneDescriptor,
} from './url-backbones.js';

export type BackboneSource =
  | { kind: 'npm'; packageName: string; modelDir: string; format: 'layers' | 'graph' }
  | { kind: 'local'; envVar: string; defaultDir: string }
  /**
   * Downloaded once into backboneCacheDir(). A URL backbone (id `url:…`) carries its description
   * and the SHA-256 of the weights it was loaded with: that is what a model's manifest records.
   */
  | { kind: 'url'; url: string; descriptor?: UrlBackboneDescriptor; weightsSha256?: string };

export interface BackboneSpec {
  id: string;
  inputSize: number;
  /** For a URL backbone, 0 until it is loaded (the loaded Backbone's spec has the measured size). */
  featureDim: number;
  preprocessing: Preprocessing;
  /** Applied inside the backbone to its `unit` input: (x − mean) / std per channel (ImageNet-style weights). */
  standardise?: { mean: [number, number, number]; std: [number, number, number] };
  /** Tried in order: a local dir overrides the URL download. */
  sources: BackboneSource[];
  /**
   * Pinned SHA-256 of each file (model.json and every shard, by name): a copy from any source
   * whose files differ is refused at load, and a download is checked before it is cached.
   */
  fileSha256?: Readonly<Record<string, string>>;
  /** Layer (layers model) or node (graph model) names whose outputs form the features (4-D outputs are average-pooled). */
  featureOutputs: string[];
  license: string;
  origin: string;
}

export interface Backbone {
  spec: BackboneSpec;
  /** How the weights run: a graph model, a layers model, or a conv chain folded into fused kernels ('+'-joined for ensembles). */
  execution: string;
  /** Input: [n, inputSize, inputSize, 3] normalised per spec.preprocessing. Output: [n, featureDim], each part L2-normalised. */
  embed(input: tf.Tensor4D): tf.Tensor2D;
  /**
   * The last feature map before pooling ([n, h, w, c], not normalised), for spatial pooling and
   * evidence maps. Single backbones only (an ensemble's parts have different grids).
   */
  spatial?(input: tf.Tensor4D): tf.Tensor4D;
  /**
   * Each part's last feature map (an ensemble's parts in order; one map for a single backbone).
   * The input is normalised per spec.preprocessing; an ensemble resizes it to each part's input
   * size unless `keepSize` (whole-photo views run every part at the photo's own size). Absent
   * when a part has no spatial map (e.g. a URL model whose output is already a vector).
   * `parts`: run only these parts (by index), the others are not computed; all by default.
   */
  spatialParts?(
    input: tf.Tensor4D,
    keepSize?: boolean,
    parts?: readonly number[],
  ): Map<number, tf.Tensor4D>;
  dispose(): void;
}

export interface LoadBackboneOptions {
  /** Overrides WILDLENS_BACKBONES_DIR / the default <repo>/../shared/models. */
  localDir?: string;
  /** Overrides ~/.cache/wildlens/backbones. */
  cacheDir?: string;
  /** Replaces the official URL (tests, mirrors). */
  urlOverride?: string;
  fetchImpl?: typeof fetch;
}

function findRepoRoot(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'package.json');
    if (existsSync(candidate) && existsSync(path.join(dir, 'packages', 'model'))) return dir;
    dir = path.dirname(dir);
  }
  return null;
}

const repoRoot = findRepoRoot();
/** <repo root>/../shared/models (resolved from this file, not from cwd). */
export const DEFAULT_BACKBONES_DIR = repoRoot
  ? path.resolve(repoRoot, '..', 'shared', 'models')
  : '';
export const DEFAULT_CACHE_DIR = path.join(os.homedir(), '.cache', 'wildlens', 'backbones');
const CACHE_ENV = 'WILDLENS_BACKBONE_CACHE_DIR';

/**
 * $WILDLENS_BACKBONE_CACHE_DIR, else ~/.cache/wildlens/backbones when the home directory is
 * writable, else <tmp>/wildlens-backbones (Cloud Functions: only /tmp is writable).
 */
export function backboneCacheDir(): string {
  const fromEnv = process.env[CACHE_ENV];
  if (fromEnv) return fromEnv;
  try {
    accessSync(os.homedir(), constants.W_OK);
    return DEFAULT_CACHE_DIR;
  } catch {
    return path.join(os.tmpdir(), 'wildlens-backbones');
  }
}
const BACKBONES_ENV = 'WILDLENS_BACKBONES_DIR';

const NSFW_LICENSE = 'MIT (nsfwjs by Infinite Red; weights shipped inside the npm package)';
const MID_LAST_CONV =
  'StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/MobilenetV2/Conv_1/Relu6';

/**
 * The backbones a default or documented path uses: the two parts of the `auto` ensemble (the
 * npm-shipped MobileNetV2-1.4, also the offline fallback, and MobileNetV1 0.75), plus any URL
 * backbone (url-backbones.ts). The bake-off's other candidates (packages/model/README.md) were
 * removed once measured.
 */
const BASE_SPECS: BackboneSpec[] = [
  {
    id: 'nsfw-mobilenet-v2-mid',
    inputSize: 224,
    featureDim: 1792,
    preprocessing: 'unit',
    sources: [
      { kind: 'npm', packageName: 'nsfwjs', modelDir: 'mobilenet_v2_mid', format: 'graph' },
    ],
    // Conv_1/Relu6 + our global pooling equals the exported 7×7 AvgPool at 224, and works at any size.
    featureOutputs: [MID_LAST_CONV],
    license: NSFW_LICENSE,
    origin:
      'nsfwjs 4.4.0 MobileNetV2-mid (TF-Hub MobileNetV2 alpha 1.4 feature vector, 1792-d, graph model); head discarded',
  },
  {
    id: 'mobilenet-v1-0.75',
    inputSize: 224,
    featureDim: 768,
    preprocessing: 'mobilenet',
    sources: [
      { kind: 'local', envVar: BACKBONES_ENV, defaultDir: DEFAULT_BACKBONES_DIR },
      {
        kind: 'url',
        url: 'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.75_224/model.json',
      },
    ],
    featureOutputs: ['global_average_pooling2d_1'],
    fileSha256: MOBILENET_V1_075_SHA256,
    license: 'Apache-2.0 (tensorflow/tfjs-models MobileNetV1 ImageNet weights)',
    origin: 'MobileNetV1 alpha 0.75 (224), ImageNet, truncated at global_average_pooling2d_1',
  },
];

export const BACKBONE_SPECS: readonly BackboneSpec[] = BASE_SPECS;
/** Shipped inside an npm dependency: works on a fresh machine, offline. */
export const DEFAULT_BACKBONE_ID = 'nsfw-mobilenet-v2-mid';
/** Best measured recipe (README bake-off); its MobileNetV1 part is a local file or an official URL download. */
export const PREFERRED_BACKBONE_ID = 'nsfw-mobilenet-v2-mid+mobilenet-v1-0.75@192';
/** Backbone id meaning "the preferred ensemble if its weights can be had, else the default" (resolveBackboneId). */
export const AUTO_BACKBONE_ID = 'auto';

export function getBackboneSpec(id: string): BackboneSpec {
  const parts = id.split('+');
  if (parts.length > 1) {
    const specs = parts.map((part) => getBackboneSpec(part));
    return {
      id,
      inputSize: Math.max(...specs.map((s) => s.inputSize)),
      featureDim: specs.reduce((sum, s) => sum + s.featureDim, 0),
      preprocessing: 'unit',
      sources: specs.flatMap((s) => s.sources),
      featureOutputs: [],
      license: specs.map((s) => `${s.id}: ${s.license}`).join('; '),
      origin: `ensemble (concatenated L2-normalised features) of ${parts.join(', ')}`,
    };
  }
  // "<id>@<size>" runs the same fully-convolutional weights at another input resolution.
  const [baseId, sizeText] = id.split('@') as [string, string | undefined];
  const spec = isUrlBackboneId(baseId)
    ? urlBackboneSpec(baseId)
    : BACKBONE_SPECS.find((s) => s.id === baseId);
  if (!spec)
    throw new Error(
      `unknown backbone "${id}" (known: ${BACKBONE_SPECS.map((s) => s.id).join(', ')}, or a URL backbone)`,
    );
  if (sizeText === undefined) return spec;
  const inputSize = Number(sizeText);
  if (!Number.isInteger(inputSize) || inputSize < 96 || inputSize > 640 || inputSize % 32 !== 0) {
    throw new Error(`backbone "${id}": input size must be a multiple of 32 in 96..640`);
  }
  return { ...spec, id, inputSize, origin: `${spec.origin}, run at ${inputSize}×${inputSize}` };
}

/** torchvision's ImageNet statistics, on the 0..1 scale. */
const IMAGENET_STANDARDISE: NonNullable<BackboneSpec['standardise']> = {
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

function urlBackboneSpec(id: string): BackboneSpec {
  const entry = urlBackboneEntry(id);
  const d = entry.descriptor;
  return {
    id,
    inputSize: d.inputSize,
    featureDim: d.featureDim ?? entry.featureDim ?? 0,
    preprocessing: d.normalisation === 'mobilenet' ? 'mobilenet' : 'unit',
    ...(d.normalisation === 'imagenet' ? { standardise: IMAGENET_STANDARDISE } : {}),
    sources: [
      {
        kind: 'url',
        url: d.url,
        descriptor: d,
        ...(entry.weightsSha256 ? { weightsSha256: entry.weightsSha256 } : {}),
      },
    ],
    featureOutputs: d.featureOutput ? [d.featureOutput] : [],
    license: d.license,
    origin: d.origin ?? `tfjs model downloaded from ${d.url}`,
  };
}

/**
 * Makes the URL backbones a model's manifest records (backbone.sources) loadable, each with the
 * weights digest it was trained with. Throws when a recorded description does not hash to its id.
 */
export function registerRecordedBackbones(
  recorded: { id: string; sources: BackboneSource[] }[],
): void {
  for (const part of recorded) {
    for (const source of part.sources) {
      if (source.kind !== 'url' || !source.descriptor) continue;
      const parsed = urlBackboneDescriptorSchema.safeParse(source.descriptor);
      if (!parsed.success)
        throw new Error(
          `backbone ${part.id}: invalid recorded description (${parsed.error.message})`,
        );
      const id = registerUrlBackbone(parsed.data, source.weightsSha256);
      if (id !== baseIdOf(part.id))
        throw new Error(`backbone ${part.id}: its recorded description hashes to ${id}`);
    }
  }
}

function baseIdOf(id: string): string {
  return id.split('@')[0] as string;
}

/** Lets a fixed-size export accept any spatial size (all layers before pooling are convolutional). */
export function freeSpatialDims(topology: unknown): unknown {
  if (Array.isArray(topology)) return topology.map(freeSpatialDims);
  if (topology && typeof topology === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(topology)) {
      if (key === 'batch_input_shape' && Array.isArray(value) && value.length === 4)
        out[key] = [null, null, null, value[3]];
      else if (
        key === 'shape' &&
        value &&
        typeof value === 'object' &&
        Array.isArray((value as { dim?: unknown }).dim)
      ) {
        const dims = (value as { dim: { size: string }[] }).dim;
        out[key] = {
          ...value,
          dim: dims.length === 4 ? [dims[0], { size: '-1' }, { size: '-1' }, dims[3]] : dims,
        };
      } else out[key] = freeSpatialDims(value);
    }
    return out;
  }
  return topology;
}

interface WeightsGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}
interface ModelJson {
  format?: string;
  modelTopology: unknown;
  weightsManifest: WeightsGroup[];
}

function artifactsOf(modelJson: ModelJson, shards: Uint8Array[]): tf.io.ModelArtifacts {
  const total = shards.reduce((sum, s) => sum + s.byteLength, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const shard of shards) {
    weightData.set(shard, offset);
    offset += shard.byteLength;
  }
  return {
    modelTopology: modelJson.modelTopology as tf.io.ModelArtifacts['modelTopology'],
    format: modelJson.format,
    weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
    weightData: weightData.buffer,
  };
}

/** A tfjs model bundled inside an npm package (nsfwjs's models: offline on every machine). */
export async function readNpmArtifacts(
  source: Pick<Extract<BackboneSource, { kind: 'npm' }>, 'packageName' | 'modelDir'>,
): Promise<tf.io.ModelArtifacts> {
  const require = createRequire(import.meta.url);
  // nsfwjs's export map hides the model bundles: resolve the package root from its main entry.
  const main = require.resolve(source.packageName);
  const packageRoot = main.slice(0, main.lastIndexOf(`${path.sep}dist${path.sep}`));
  const modelDir = path.join(packageRoot, 'dist', 'models', source.modelDir);
  // The bundles are CommonJS modules: model.min.js exports model.json, each shard a base64 string.
  const modelJson = require(path.join(modelDir, 'model.min.js')) as ModelJson;
  const shards = modelJson.weightsManifest.flatMap((g) =>
    g.paths.map((p) => {
      const base64 = require(path.join(modelDir, `${p}.min.js`)) as string;
      return new Uint8Array(Buffer.from(base64, 'base64'));
    }),
  );
  return artifactsOf(modelJson, shards);
}

/** graph-model / layers-model from model.json's `format`, else from the topology (old exports have no format). */
function formatOf(modelJson: ModelJson): 'graph' | 'layers' {
  if (modelJson.format === 'graph-model') return 'graph';
  if (modelJson.format === 'layers-model') return 'layers';
  const topology = modelJson.modelTopology as { node?: unknown } | null | undefined;
  return Array.isArray(topology?.node) ? 'graph' : 'layers';
}

function parseModelJson(bytes: Uint8Array, where: string): ModelJson {
  let modelJson: ModelJson;
  try {
    modelJson = JSON.parse(new TextDecoder().decode(bytes)) as ModelJson;
  } catch {
    throw new Error(`${where} is not JSON (not a tfjs model.json)`);
  }
  if (!modelJson?.modelTopology || !Array.isArray(modelJson.weightsManifest))
    throw new Error(`${where} is not a tfjs model.json (no modelTopology / weightsManifest)`);
  return modelJson;
}

/**
 * Refuses a weights file whose SHA-256 is not the one pinned for its name (`pins` absent: no
 * pin, nothing checked). A file the pins do not name is refused too: the model.json that lists
 * it is not the pinned one.
 */
export function checkPinnedFile(
  pins: Readonly<Record<string, string>> | undefined,
  name: string,
  bytes: Uint8Array,
  where: string,
): void {
  if (!pins) return;
  const actual = createHash('sha256').update(bytes).digest('hex');
  const expected = pins[name];
  if (actual !== expected)
    throw new Error(
      `${where}/${name} has SHA-256 ${actual}, ${expected ? `pinned ${expected}` : 'not a pinned file'}: ` +
        `refusing these weights (corrupt or tampered copy; delete it to fetch it again)`,
    );
}

/**
 * Reads a model directory, each file checked against `pins` when given; `sha256` covers
 * model.json then its shards in weightsManifest order.
 */
async function readDirArtifacts(
  dir: string,
  pins?: Readonly<Record<string, string>>,
): Promise<{ artifacts: tf.io.ModelArtifacts; format: 'layers' | 'graph'; sha256: string }> {
  const modelJsonBytes = new Uint8Array(await readFile(path.join(dir, 'model.json')));
  checkPinnedFile(pins, 'model.json', modelJsonBytes, dir);
  const modelJson = parseModelJson(modelJsonBytes, path.join(dir, 'model.json'));
  const shards = await Promise.all(
    modelJson.weightsManifest.flatMap((g) =>
      g.paths.map(async (p) => {
        const bytes = new Uint8Array(await readFile(path.join(dir, p)));
        checkPinnedFile(pins, p, bytes, dir);
        return bytes;
      }),
    ),
  );
  const hash = createHash('sha256').update(modelJsonBytes);
  for (const shard of shards) hash.update(shard);
  return {
    artifacts: artifactsOf(modelJson, shards),
    format: formatOf(modelJson),
    sha256: hash.digest('hex'),
  };
}

const DOWNLOAD_TIMEOUT_MS = 60_000;

/** fetch's own message ("fetch failed") hides the reason: ECONNREFUSED, ENOTFOUND (offline), timeout. */
function describeFetchError(error: unknown): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${DOWNLOAD_TIMEOUT_MS / 1000} s`;
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message} (${cause})` : e.message;
}

async function fetchOk(url: string, fetchImpl: typeof fetch): Promise<Response> {
  let response: Response;
  try {
    // A network that drops packets instead of refusing must not hang a training run or a cold start.
    response = await fetchImpl(url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
  } catch (error) {
    throw new Error(`download ${url}: ${describeFetchError(error)}`);
  }
  if (!response.ok) throw new Error(`download ${url}: HTTP ${response.status}`);
  return response;
}

/**
 * Downloads model.json and its shards once into cacheDir/<name>; model.json is written last as
 * the completion marker. Shards are fetched next to model.json with its query string, as tfjs's
 * own http loader does (TF-Hub needs `?tfjs-format=file` on every file). With `pins`, every
 * file is checked before it is kept: a download that differs is never cached.
 */
async function downloadToCache(
  name: string,
  url: string,
  cacheDir: string,
  fetchImpl: typeof fetch,
  pins?: Readonly<Record<string, string>>,
): Promise<string> {
  const dir = path.join(cacheDir, name);
  if (existsSync(path.join(dir, 'model.json'))) return dir;
  await mkdir(dir, { recursive: true });
  const modelJsonBytes = new Uint8Array(await (await fetchOk(url, fetchImpl)).arrayBuffer());
  checkPinnedFile(pins, 'model.json', modelJsonBytes, url);
  const modelJson = parseModelJson(modelJsonBytes, url);
  // Unique temp names: two processes (trainer tasks) may fill the same cache at once.
  const tmpSuffix = `.${process.pid}-${Math.random().toString(36).slice(2)}.part`;
  const search = new URL(url).search;
  for (const p of modelJson.weightsManifest.flatMap((g) => g.paths)) {
    const shardUrl = new URL(p, url);
    shardUrl.search = search;
    const shard = await fetchOk(shardUrl.href, fetchImpl);
    const target = path.join(dir, p);
    if (path.dirname(target) !== dir)
      throw new Error(`${url}: shard path ${p} leaves its directory`);
    const bytes = new Uint8Array(await shard.arrayBuffer());
    checkPinnedFile(pins, p, bytes, url);
    await writeFile(target + tmpSuffix, bytes);
    await rename(target + tmpSuffix, target);
  }
  await writeFile(path.join(dir, `model.json${tmpSuffix}`), modelJsonBytes);
  await rename(path.join(dir, `model.json${tmpSuffix}`), path.join(dir, 'model.json'));
  return dir;
}

/** Cache directory name of a URL backbone: by URL, so changing how it is read re-uses the download. */
function urlCacheName(url: string): string {
  return `url-${createHash('sha256').update(url).digest('hex').slice(0, 16)}`;
}

type WeightsLocation =
  { kind: 'npm'; source: Extract<BackboneSource, { kind: 'npm' }> } | { kind: 'dir'; dir: string };

/** Finds a backbone's weights, trying its sources in order (a URL source downloads into the cache). */
async function locateWeights(
  spec: BackboneSpec,
  options: LoadBackboneOptions,
): Promise<WeightsLocation> {
  const errors: string[] = [];
  const cacheDir = options.cacheDir ?? backboneCacheDir();
  for (const source of spec.sources) {
    if (source.kind === 'npm') return { kind: 'npm', source };
    if (source.kind === 'local') {
      const base = options.localDir ?? process.env[source.envVar] ?? source.defaultDir;
      const dir = base ? path.join(base, baseIdOf(spec.id)) : '';
      if (dir && existsSync(path.join(dir, 'model.json'))) return { kind: 'dir', dir };
      errors.push(`no ${dir || '(local dir)'}/model.json`);
      continue;
    }
    // urlOverride stands in for the official URLs of the built-in backbones, never for a described one.
    const url = source.descriptor ? source.url : (options.urlOverride ?? source.url);
    const name = source.descriptor ? urlCacheName(url) : baseIdOf(spec.id);
    try {
      const dir = await downloadToCache(
        name,
        url,
        cacheDir,
        options.fetchImpl ?? fetch,
        spec.fileSha256,
      );
      return { kind: 'dir', dir };
    } catch (error) {
      errors.push((error as Error).message);
      if (source.descriptor)
        errors.push(
          `its weights are downloaded once into ${path.join(cacheDir, name)}; this machine could not ` +
            `fetch them (offline?): copy model.json and its shards there, or choose a backbone shipped ` +
            `with npm (auto)`,
        );
    }
  }
  throw new Error(`backbone ${spec.id} unavailable: ${errors.join('; ')}`);
}

/** A backbone's tfjs artifacts, from its first available source (the offline bundle exports them). */
export async function resolveArtifacts(
  spec: BackboneSpec,
  options: LoadBackboneOptions,
): Promise<{
  artifacts: tf.io.ModelArtifacts;
  format: 'layers' | 'graph';
  from: string;
  sha256?: string;
}> {
  const location = await locateWeights(spec, options);
  if (location.kind === 'npm') {
    return {
      artifacts: await readNpmArtifacts(location.source),
      format: location.source.format,
      from: `npm:${location.source.packageName}`,
    };
  }
  return { ...(await readDirArtifacts(location.dir, spec.fileSha256)), from: location.dir };
}

/** Where each part of a backbone id would load from; throws (with every reason) when a part is unavailable. */
export async function locateBackbone(
  id: string,
  options: LoadBackboneOptions = {},
): Promise<string[]> {
  const found: string[] = [];
  for (const part of id.split('+')) {
    const location = await locateWeights(getBackboneSpec(part), options);
    found.push(
      `${part}: ${location.kind === 'npm' ? `npm ${location.source.packageName}` : location.dir}`,
    );
  }
  return found;
}

/** What `auto` resolved to, and why (printed by the CLIs, logged by the trainer, kept in the manifest). */
export interface BackboneChoice {
  id: string;
  reason: string;
}

/**
 * `auto` (or nothing) picks the best measured recipe whose weights can be had here: the
 * PREFERRED_BACKBONE_ID ensemble when its MobileNetV1 part is in the local models dir, the
 * download cache, or downloadable from its official URL; otherwise the npm-shipped
 * DEFAULT_BACKBONE_ID, which works on any machine, offline. Any other id is taken as asked.
 */
export async function resolveBackboneId(
  requested: string | undefined,
  options: LoadBackboneOptions = {},
): Promise<BackboneChoice> {
  const asked = requested?.trim();
  if (asked && isUrlBackboneParam(asked)) {
    const descriptor = parseUrlBackboneParam(asked);
    return { id: registerUrlBackbone(descriptor), reason: `requested: ${descriptor.url}` };
  }
  if (asked && asked !== AUTO_BACKBONE_ID) {
    getBackboneSpec(asked);
    return { id: asked, reason: 'requested' };
  }
  try {
    const found = await locateBackbone(PREFERRED_BACKBONE_ID, options);
    return {
      id: PREFERRED_BACKBONE_ID,
      reason: `auto: all weights available (${found.join('; ')})`,
    };
  } catch (error) {
    return {
      id: DEFAULT_BACKBONE_ID,
      reason: `auto: ${PREFERRED_BACKBONE_ID} unavailable, using the npm-shipped default (${(error as Error).message})`,
    };
  }
}

function gapAndNormalise(outputs: tf.Tensor[]): tf.Tensor2D {
  const parts = outputs.map((t) => {
    if (t.rank !== 2 && t.rank !== 4)
      throw new Error(
        `feature output of shape [${t.shape.join(', ')}]: expected [n, d] or [n, h, w, d] (name another output)`,
      );
    const pooled = (t.rank === 4 ? tf.mean(t, [1, 2]) : t) as tf.Tensor2D;
    return tf.div(pooled, tf.add(tf.norm(pooled, 'euclidean', 1, true), 1e-8)) as tf.Tensor2D;
  });
  return parts.length === 1 ? (parts[0] as tf.Tensor2D) : tf.concat(parts, 1);
}

/** Runs a layers model as exported (graphs that foldConvChain cannot rewrite). */
function layersRunner(
  full: tfl.LayersModel,
  spec: BackboneSpec,
): { run: (x: tf.Tensor4D) => tf.Tensor[]; disposeModel: () => void } {
  let model: tfl.LayersModel;
  if (spec.featureOutputs.length === 0) {
    model = full;
  } else {
    const outputs = spec.featureOutputs.map(
      (name) => full.getLayer(name).output as tfl.SymbolicTensor,
    );
    model = tfl.model({ inputs: full.inputs, outputs });
  }
  return {
    run: (x) => {
      const out = model.predict(x);
      return Array.isArray(out) ? out : [out];
    },
    disposeModel: () => full.dispose(),
  };
}

async function loadSingle(spec: BackboneSpec, options: LoadBackboneOptions): Promise<Backbone> {
  await initBackend();
  const resolved = await resolveArtifacts(spec, options);
  const { format } = resolved;
  // Free spatial dims: `id@size` runs at another input size, and whole-photo views run the
  // (fully convolutional) trunk at the photo's own aspect ratio.
  const artifacts = {
    ...resolved.artifacts,
    modelTopology: freeSpatialDims(
      resolved.artifacts.modelTopology,
    ) as tf.io.ModelArtifacts['modelTopology'],
  };
  let run: (x: tf.Tensor4D) => tf.Tensor[];
  let spatial: ((x: tf.Tensor4D) => tf.Tensor4D) | undefined;
  let disposeModel: () => void;
  let execution: string = format;
  // Empty featureOutputs: the model's own outputs.
  const outputNames = spec.featureOutputs.length > 0 ? spec.featureOutputs : undefined;
  if (format === 'graph') {
    const graph = await tfc.loadGraphModel(tf.io.fromMemory(artifacts));
    const runGraph = (x: tf.Tensor4D): tf.Tensor[] => {
      const out = graph.execute(x, outputNames);
      return Array.isArray(out) ? out : [out];
    };
    run = runGraph;
    spatial = (x) => runGraph(x).at(-1) as tf.Tensor4D;
    disposeModel = () => graph.dispose();
  } else {
    const full = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
    const fused =
      spec.featureOutputs.length === 1
        ? foldConvChain(full, spec.featureOutputs[0] as string)
        : null;
    if (fused) {
      full.dispose();
      execution = 'fused-chain';
      run = (x) => [fused.run(x)];
      spatial = (x) => fused.spatial(x);
      disposeModel = () => fused.dispose();
    } else {
      ({ run, disposeModel } = layersRunner(full, spec));
    }
  }
  const { standardise } = spec;
  if (standardise) {
    const runRaw = run;
    run = (x) => runRaw(tf.div(tf.sub(x, standardise.mean), standardise.std) as tf.Tensor4D);
    const spatialRaw = spatial;
    if (spatialRaw)
      spatial = (x) =>
        spatialRaw(tf.div(tf.sub(x, standardise.mean), standardise.std) as tf.Tensor4D);
  }
  try {
    // Warm-up: the first call compiles kernels and allocates; do it at load, not on the first
    // request. It also measures the feature size (a URL backbone's is known only now).
    const featureDim = tf.tidy(
      () => gapAndNormalise(run(tf.zeros([1, spec.inputSize, spec.inputSize, 3]))).shape[1],
    );
    const baseId = baseIdOf(spec.id);
    if (isUrlBackboneId(baseId))
      checkUrlBackboneWeights(baseId, resolved.from, resolved.sha256 as string, featureDim);
    else if (featureDim !== spec.featureDim)
      throw new Error(`gives ${featureDim}-d features, its spec says ${spec.featureDim}`);
    return {
      spec: isUrlBackboneId(baseId) ? getBackboneSpec(spec.id) : spec,
      execution,
      embed: (input) => tf.tidy(() => gapAndNormalise(run(input))),
      ...(spatial ? { spatial: (input: tf.Tensor4D) => tf.tidy(() => spatial(input)) } : {}),
      dispose: disposeModel,
    };
  } catch (error) {
    disposeModel();
    throw new Error(`backbone ${spec.id}: ${(error as Error).message}`);
  }
}

const loaded = new Map<string, { promise: Promise<Backbone>; refs: number }>();

/**
 * Loads a backbone (or a `+`-joined ensemble). Loaded weights are shared between callers and freed
 * when the last holder calls dispose().
 */
export async function loadBackbone(
  id: string,
  options: LoadBackboneOptions = {},
): Promise<Backbone> {
  const spec = getBackboneSpec(id);
  const partIds = id.split('+');
  if (partIds.length === 1) return acquire(spec, options);
  const parts = await Promise.all(partIds.map((part) => acquire(getBackboneSpec(part), options)));
  return {
    // A URL part's feature size is measured at load.
    spec: { ...spec, featureDim: parts.reduce((sum, p) => sum + p.spec.featureDim, 0) },
    execution: parts.map((p) => p.execution).join('+'),
    embed: (input) =>
      tf.tidy(() =>
        tf.concat(
          parts.map((p) => p.embed(adaptInput(input, spec.preprocessing, p.spec))),
          1,
        ),
      ),
    ...(parts.every((p) => p.spatial)
      ? {
          spatialParts: (input: tf.Tensor4D, keepSize = false, only?: readonly number[]) => {
            const maps = new Map<number, tf.Tensor4D>();
            parts.forEach((p, i) => {
              if (only && !only.includes(i)) return;
              maps.set(
                i,
                tf.tidy(() =>
                  (p.spatial as (x: tf.Tensor4D) => tf.Tensor4D)(
                    adaptInput(input, spec.preprocessing, p.spec, keepSize),
                  ),
                ),
              );
            });
            return maps;
          },
        }
      : {}),
    dispose: () => parts.forEach((p) => p.dispose()),
  };
}

async function acquire(spec: BackboneSpec, options: LoadBackboneOptions): Promise<Backbone> {
  let entry = loaded.get(spec.id);
  if (!entry) {
    entry = { promise: loadSingle(spec, options), refs: 0 };
    loaded.set(spec.id, entry);
    entry.promise.catch(() => loaded.delete(spec.id));
  }
  entry.refs++;
  const shared = await entry.promise;
  const holder = entry;
  let released = false;
  return {
    spec: shared.spec,
    execution: shared.execution,
    embed: shared.embed,
    spatial: shared.spatial,
    ...(shared.spatial
      ? {
          spatialParts: (input: tf.Tensor4D, _keepSize?: boolean, only?: readonly number[]) =>
            new Map(
              !only || only.includes(0)
                ? [[0, (shared.spatial as (x: tf.Tensor4D) => tf.Tensor4D)(input)]]
                : [],
            ),
        }
      : {}),
    dispose: () => {
      if (released) return;
      released = true;
      holder.refs--;
      if (holder.refs === 0) {
        loaded.delete(spec.id);
        shared.dispose();
      }
    },
  };
}
