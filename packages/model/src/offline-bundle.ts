/**
 * Builds a model's offline bundle (format: offline-bundle-format.ts) from the model's files and
 * its backbone weights. Deterministic: the same model, species sheets and quantisation always
 * give the same bytes, so an export retried or run twice at once writes identical files.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  freeSpatialDims,
  getBackboneSpec,
  registerRecordedBackbones,
  resolveArtifacts,
  type LoadBackboneOptions,
} from './backbones.js';
import { initBackend } from './backend.js';
import { foldConvChain, type FusedOp } from './fused-chain.js';
import type { ModelFileReader } from './model-format.js';
import { validateManifest } from './model-manifest.js';
import {
  OFFLINE_BUNDLE_FORMAT,
  OFFLINE_BUNDLE_FORMAT_VERSION,
  OFFLINE_BUNDLE_MANIFEST,
  OFFLINE_BUNDLE_MODEL_MANIFEST,
  OFFLINE_BUNDLE_SPECIES,
  parseOfflineBundleManifest,
  type OfflineBundleManifest,
  type OfflineBundlePart,
  type WeightQuantization,
} from './offline-bundle-format.js';
import { quantizeWeights } from './quantize.js';

/**
 * Float32 weights the exporter writes (MobileNetV1's folded kernels) are stored as float16:
 * half the size, and the agreement with the server stays within the targets (measured with
 * scripts/bench/offline.ts, figures in packages/model/README.md).
 */
export const DEFAULT_BUNDLE_QUANTIZATION: WeightQuantization = 'float16';

/** Model manifest fields that describe how the model was trained, not how it answers. */
const TRAINING_RECORDS = ['metrics', 'training', 'holdout'] as const;
/** Species sheet fields that are not text (the bundle carries text only). */
const NON_TEXT_SHEET_FIELDS = ['exampleImage'] as const;

export interface OfflineBundleInput {
  /** The model's files: manifest.json and head.bin (models/{version}/ in Storage, a directory…). */
  model: ModelFileReader;
  /** The bundle's version: the model's registry version. */
  version: string;
  /** French fact sheets (`speciesId` + text fields); those of the model's labels are kept. */
  species: readonly ({ speciesId: string } & Record<string, unknown>)[];
  /** How exported float32 weights are stored (default DEFAULT_BUNDLE_QUANTIZATION). */
  quantization?: WeightQuantization;
  backbone?: LoadBackboneOptions;
}

export interface OfflineBundle {
  manifest: OfflineBundleManifest;
  /** Every file of the bundle by relative path, bundle.json included. */
  files: Map<string, Uint8Array>;
}

/** JSON with object keys sorted at every level: the same data always gives the same bytes. */
export function stableJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.keys(v as object)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    return v;
  };
  return JSON.stringify(sort(value));
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
}
interface GraphModelJson {
  format: 'graph-model';
  generatedBy: string;
  convertedBy: string;
  modelTopology: { node: GraphNode[]; versions?: unknown; library?: unknown };
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

const BYTES_PER_ELEMENT: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

function byteLengthOf(spec: tf.io.WeightsManifestEntry): number {
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const bytes = BYTES_PER_ELEMENT[dtype];
  if (!bytes) throw new Error(`weight ${spec.name}: dtype ${dtype} cannot go into a bundle`);
  return spec.shape.reduce((a, b) => a * b, 1) * bytes;
}

/** Node names `output` depends on (inputs like `name:1` or control inputs `^name` included). */
function ancestors(nodes: GraphNode[], output: string): Set<string> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const keep = new Set<string>();
  const stack = [output];
  while (stack.length) {
    const name = stack.pop() as string;
    if (keep.has(name)) continue;
    const node = byName.get(name);
    if (!node) throw new Error(`graph has no node ${name}`);
    keep.add(name);
    for (const input of node.input ?? []) stack.push(input.replace(/^\^/, '').replace(/:\d+$/, ''));
  }
  return keep;
}

/**
 * A graph model cut at `output`: the nodes and weights it needs, spatial dims freed (views run
 * at any size), weights kept byte for byte (nsfwjs ships them uint8-quantised: the runtime
 * dequantises them exactly as the server does).
 */
function pruneGraphModel(
  artifacts: tf.io.ModelArtifacts,
  output: string,
): { json: GraphModelJson; weights: Uint8Array; quantization: OfflineBundlePart['weights'] } {
  const topology = artifacts.modelTopology as { node: GraphNode[]; versions?: unknown };
  const keep = ancestors(topology.node, output);
  const source = new Uint8Array(artifacts.weightData as ArrayBuffer);
  const kept: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const spec of artifacts.weightSpecs ?? []) {
    const length = byteLengthOf(spec);
    if (keep.has(spec.name)) {
      kept.push(spec);
      chunks.push(source.subarray(offset, offset + length));
    }
    offset += length;
  }
  if (offset !== source.byteLength)
    throw new Error(`weights: ${source.byteLength} bytes, the manifest describes ${offset}`);
  const kinds = new Set(kept.map((s) => s.quantization?.dtype ?? s.dtype));
  const pruned = {
    node: topology.node.filter((n) => keep.has(n.name)),
    ...(topology.versions ? { versions: topology.versions } : {}),
  };
  return {
    json: {
      format: 'graph-model',
      generatedBy: 'wildlens offline bundle',
      convertedBy: 'wildlens offline bundle (pruned)',
      modelTopology: freeSpatialDims(pruned) as GraphModelJson['modelTopology'],
      weightsManifest: [{ paths: ['weights.bin'], weights: kept }],
    },
    weights: concat(chunks),
    quantization: {
      origin: 'as-shipped',
      quantization:
        kinds.size === 1 && [...kinds][0] === 'float32'
          ? 'float32'
          : kinds.size === 1 && [...kinds][0] === 'float16'
            ? 'float16'
            : kinds.size === 1 && [...kinds][0] === 'uint8'
              ? 'uint8'
              : 'mixed',
    },
  };
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const dims = (shape: number[]) => ({ dim: shape.map((size) => ({ size: String(size) })) });
const ACTIVATION_OP: Record<FusedOp['activation'], string | null> = {
  linear: null,
  relu: 'Relu',
  relu6: 'Relu6',
};

/**
 * A folded conv chain (fused-chain.ts) as a tfjs graph model: the same fused kernels
 * (`_FusedConv2D`, `FusedDepthwiseConv2dNative` with BiasAdd + activation) on the same folded
 * weights, so the runtime computes what the server's fused chain computes.
 */
function fusedChainGraph(
  ops: readonly FusedOp[],
  quantization: WeightQuantization,
): { json: GraphModelJson; weights: Uint8Array; output: string } {
  const nodes: GraphNode[] = [
    {
      name: 'input',
      op: 'Placeholder',
      attr: {
        dtype: { type: 'DT_FLOAT' },
        shape: { shape: dims([-1, -1, -1, 3]) },
      },
    },
  ];
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  const constant = (name: string, tensor: tf.Tensor): string => {
    const values = tensor.dataSync() as Float32Array;
    const { bytes, quantization: q } = quantizeWeights(values, quantization);
    specs.push({ name, shape: tensor.shape, dtype: 'float32', ...(q ? { quantization: q } : {}) });
    chunks.push(bytes);
    nodes.push({
      name,
      op: 'Const',
      attr: {
        dtype: { type: 'DT_FLOAT' },
        value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(tensor.shape) } },
      },
    });
    return name;
  };
  let previous = 'input';
  ops.forEach((op, i) => {
    const name = `chain/${i}`;
    const filter = constant(`${name}/filter`, op.filter);
    const bias = constant(`${name}/bias`, op.bias);
    const activation = ACTIVATION_OP[op.activation];
    nodes.push({
      name,
      op: op.kind === 'conv' ? '_FusedConv2D' : 'FusedDepthwiseConv2dNative',
      input: [previous, filter, bias],
      attr: {
        T: { type: 'DT_FLOAT' },
        strides: { list: { i: ['1', String(op.strides[0]), String(op.strides[1]), '1'] } },
        padding: { s: b64(op.pad.toUpperCase()) },
        data_format: { s: b64('NHWC') },
        dilations: { list: { i: ['1', '1', '1', '1'] } },
        fused_ops: { list: { s: [b64('BiasAdd'), ...(activation ? [b64(activation)] : [])] } },
        num_args: { i: '1' },
        epsilon: { f: 0 },
      },
    });
    previous = name;
  });
  return {
    json: {
      format: 'graph-model',
      generatedBy: 'wildlens offline bundle',
      convertedBy: 'wildlens offline bundle (folded conv chain)',
      // tfjs-converter reads the GraphDef's producer version (informative only).
      modelTopology: { node: nodes, versions: { producer: 1 } },
      weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
    },
    weights: concat(chunks),
    output: previous,
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, c) => sum + c.byteLength, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/** One backbone part as a graph model: graph exports are pruned, conv chains folded. */
async function exportPart(
  partId: string,
  quantization: WeightQuantization,
  options: LoadBackboneOptions,
): Promise<{ json: GraphModelJson; weights: Uint8Array; output: string; part: OfflineBundlePart }> {
  const spec = getBackboneSpec(partId);
  const describe = (output: string, weights: OfflineBundlePart['weights']): OfflineBundlePart => ({
    id: partId,
    model: '',
    output,
    inputSize: spec.inputSize,
    preprocessing: spec.preprocessing,
    weights,
    license: spec.license,
    origin: spec.origin,
  });
  if (spec.standardise || spec.featureOutputs.length !== 1)
    throw new Error(`backbone ${partId} cannot go into an offline bundle yet`);
  const output = spec.featureOutputs[0] as string;
  const { artifacts, format } = await resolveArtifacts(spec, options);
  if (format === 'graph') {
    const { json, weights, quantization: stored } = pruneGraphModel(artifacts, output);
    return { json, weights, output, part: describe(output, stored) };
  }
  await initBackend();
  const full = await tfl.loadLayersModel(
    tf.io.fromMemory({
      ...artifacts,
      modelTopology: freeSpatialDims(
        artifacts.modelTopology,
      ) as tf.io.ModelArtifacts['modelTopology'],
    }),
  );
  try {
    const chain = foldConvChain(full, output);
    if (!chain)
      throw new Error(
        `backbone ${partId} is not a plain conv chain: it cannot go into a bundle yet`,
      );
    try {
      // The server's chain pools after its last conv; the bundle stops at that conv's map.
      const graph = fusedChainGraph(chain.ops, quantization);
      return {
        ...graph,
        part: describe(graph.output, { origin: 'exported', quantization }),
      };
    } finally {
      chain.dispose();
    }
  } finally {
    full.dispose();
  }
}

/** The model manifest without its training records, as the bundle stores it. */
function servingManifest(manifest: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...manifest };
  for (const key of TRAINING_RECORDS) delete copy[key];
  return copy;
}

function speciesSheets(
  labels: string[],
  species: OfflineBundleInput['species'],
): Record<string, unknown>[] {
  const byId = new Map(species.map((s) => [s.speciesId, s]));
  return labels.map((id) => {
    const sheet: Record<string, unknown> = { ...(byId.get(id) ?? { speciesId: id }) };
    for (const key of NON_TEXT_SHEET_FIELDS) delete sheet[key];
    return sheet;
  });
}

/** Builds the bundle of a format-2 model (whole-photo views and bilinear pooling). */
export async function buildOfflineBundle(input: OfflineBundleInput): Promise<OfflineBundle> {
  const quantization = input.quantization ?? DEFAULT_BUNDLE_QUANTIZATION;
  const manifestBytes = await input.model.readFile('manifest.json');
  const raw = JSON.parse(new TextDecoder().decode(manifestBytes)) as Record<string, unknown>;
  const manifest = validateManifest(raw);
  if (!manifest.features)
    throw new Error(
      `model ${input.version} is format ${manifest.formatVersion}: only models with a feature recipe (format 2) go offline`,
    );
  registerRecordedBackbones(manifest.backbone.sources ?? []);
  const head = await input.model.readFile(manifest.head.file);

  const files = new Map<string, Uint8Array>();
  files.set(OFFLINE_BUNDLE_MODEL_MANIFEST, utf8(stableJson(servingManifest(raw))));
  files.set('model/head.bin', head);
  files.set(
    OFFLINE_BUNDLE_SPECIES,
    utf8(stableJson({ species: speciesSheets(manifest.labels, input.species) })),
  );

  const ensemble = getBackboneSpec(manifest.backbone.id);
  const parts: OfflineBundlePart[] = [];
  for (const [index, partId] of manifest.backbone.id.split('+').entries()) {
    const exported = await exportPart(partId, quantization, input.backbone ?? {});
    const model = `backbone/${index}/model.json`;
    files.set(model, utf8(stableJson(exported.json)));
    files.set(`backbone/${index}/weights.bin`, exported.weights);
    parts.push({ ...exported.part, model });
  }

  const listed = [...files.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([path, bytes]) => ({
      path,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.byteLength,
    }));
  const bundleManifest = parseOfflineBundleManifest({
    format: OFFLINE_BUNDLE_FORMAT,
    formatVersion: OFFLINE_BUNDLE_FORMAT_VERSION,
    version: input.version,
    modelCreatedAt: manifest.createdAt,
    backbone: {
      id: manifest.backbone.id,
      preprocessing: ensemble.preprocessing,
      inputSize: ensemble.inputSize,
      parts,
    },
    model: { manifest: OFFLINE_BUNDLE_MODEL_MANIFEST, head: 'model/head.bin' },
    species: OFFLINE_BUNDLE_SPECIES,
    files: listed,
    totalSize: listed.reduce((sum, f) => sum + f.size, 0),
  });
  files.set(OFFLINE_BUNDLE_MANIFEST, utf8(stableJson(bundleManifest)));
  return { manifest: bundleManifest, files };
}

/**
 * Writes a bundle through `write`, bundle.json last: a reader that finds bundle.json finds
 * every file it lists (the completion marker of an export).
 */
export async function writeOfflineBundle(
  bundle: OfflineBundle,
  write: (path: string, bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  for (const { path } of bundle.manifest.files)
    await write(path, bundle.files.get(path) as Uint8Array);
  await write(OFFLINE_BUNDLE_MANIFEST, bundle.files.get(OFFLINE_BUNDLE_MANIFEST) as Uint8Array);
}
