/**
 * Tiny backbones for tests: seeded models of a few thousand weights, handed to the library as
 * URL backbones whose files are served from memory by an injected fetch. They run in
 * milliseconds where the real backbones take seconds: what they compute means nothing, what the
 * library does with them (caches, bases, per-domain figures, the saved format, the offline
 * bundle and the on-device runtime) is the same.
 *
 * - `tinyUrlBackbone()`: conv → ReLU → global average pool (16-d vector features at 32×32),
 *   a layers model without a spatial map (the training tests).
 * - `tinyRecipeBackbones()`: stand-ins for the default recipe's two parts, with the same kinds
 *   of files and layers: a graph model shaped like nsfwjs's MobileNetV2 (fused convolutions,
 *   uint8-quantised weights as shipped, a feature map node followed by a Softmax head), and a
 *   layers model shaped like MobileNetV1 (a Conv / DepthwiseConv → BatchNorm → ReLU6 chain up
 *   to a global average pooling, then a dense head), run at 192 like `mobilenet-v1-0.75@192`.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { resolveBackboneId, type Backbone, type LoadBackboneOptions } from './backbones.js';
import { quantizeWeights } from './quantize.js';
import { createRandom } from './random.js';

export const TINY_BACKBONE_SIZE = 32;
export const TINY_BACKBONE_CHANNELS = 16;
/** Channels of the recipe stand-ins' feature maps: above the recipe's bilinear dimension (64). */
export const TINY_RECIPE_CHANNELS = 72;
/** The graph stand-in's feature map node (MobileNetV2's is `…/Conv_1/Relu6`). */
export const TINY_GRAPH_OUTPUT = 'features/Relu6';

/** A tfjs export's files by name: model.json and its weight shards. */
export type ModelFiles = Map<string, Uint8Array>;

const TINY_ORIGIN = 'http://tiny-backbone.invalid';
const LICENSE = 'CC0-1.0 (test weights)';

/** A layers model's tfjs export files (model.json, one weights shard). */
async function layersModelFiles(model: tfl.LayersModel): Promise<ModelFiles> {
  const files: ModelFiles = new Map();
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const modelJson = JSON.stringify({
        format: 'layers-model',
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: artifacts.weightSpecs }],
      });
      files.set('model.json', new TextEncoder().encode(modelJson));
      files.set('group1-shard1of1.bin', new Uint8Array(artifacts.weightData as ArrayBuffer));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return files;
}

/** The tiny layers model and its tfjs export files (model.json, one weights shard). */
export async function tinyLayersModel(): Promise<{
  model: tfl.LayersModel;
  files: ModelFiles;
}> {
  const input = tfl.input({ shape: [TINY_BACKBONE_SIZE, TINY_BACKBONE_SIZE, 3] });
  const conv = tfl.layers
    .conv2d({
      filters: TINY_BACKBONE_CHANNELS,
      kernelSize: 3,
      strides: 2,
      activation: 'relu',
      name: 'features_map',
      kernelInitializer: tfl.initializers.glorotUniform({ seed: 7 }),
      biasInitializer: tfl.initializers.constant({ value: 0.05 }),
    })
    .apply(input) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(conv);
  const model = tfl.model({ inputs: input, outputs: pooled as tfl.SymbolicTensor });
  return { model, files: await layersModelFiles(model) };
}

/** Gives every BatchNormalization non-trivial statistics, so folding errors cannot hide. */
export function randomiseBatchNorms(model: tfl.LayersModel): void {
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    layer.setWeights(
      layer.getWeights().map((w, i) => {
        const isVariance = i === layer.getWeights().length - 1;
        return isVariance
          ? tf.randomUniform(w.shape, 0.5, 2, 'float32', 7 + i)
          : tf.randomNormal(w.shape, 0, 0.5, 'float32', 11 + i);
      }),
    );
  }
}

/**
 * A MobileNetV1-like plain chain (seeded): Conv → BatchNorm → ReLU6, DepthwiseConv → BatchNorm
 * (no centre) → ReLU(max 6), 1×1 Conv → BatchNorm (no scale) → ReLU, global average pooling
 * `features` ([n, channels]), then a dense head. Stride 4.
 */
export function mobilenetLikeChain(
  options: { inputSize?: number; channels?: number } = {},
): tfl.LayersModel {
  const size = options.inputSize ?? 32;
  const seeded = (seed: number) => tfl.initializers.glorotUniform({ seed });
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [size, size, 3],
        filters: 8,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        useBias: false,
        kernelInitializer: seeded(1),
      }),
      tfl.layers.batchNormalization({ epsilon: 1e-3 }),
      tfl.layers.activation({ activation: 'relu6' }),
      tfl.layers.depthwiseConv2d({
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        useBias: false,
        depthwiseInitializer: seeded(2),
      }),
      tfl.layers.batchNormalization({ epsilon: 1e-3, center: false }),
      tfl.layers.reLU({ maxValue: 6 }),
      tfl.layers.conv2d({
        filters: options.channels ?? 16,
        kernelSize: 1,
        padding: 'valid',
        useBias: true,
        kernelInitializer: seeded(3),
        biasInitializer: tfl.initializers.constant({ value: 0.05 }),
      }),
      tfl.layers.batchNormalization({ epsilon: 1e-3, scale: false }),
      tfl.layers.activation({ activation: 'relu' }),
      tfl.layers.globalAveragePooling2d({ name: 'features' }),
      tfl.layers.dense({ units: 4, kernelInitializer: seeded(4) }),
    ],
  });
  randomiseBatchNorms(model);
  return model;
}

interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const dims = (shape: number[]) => ({ dim: shape.map((size) => ({ size: String(size) })) });

/**
 * A graph model shaped like nsfwjs's MobileNetV2 export (seeded): fused convolutions and a
 * depthwise one (stride 8 in all), a Relu6 feature map node (TINY_GRAPH_OUTPUT, 72 channels),
 * then a classification head (mean, matmul, Softmax); float weights uint8-quantised as nsfwjs
 * ships them, the head's weights last in the shard.
 */
export function tinyGraphModelFiles(): ModelFiles {
  const random = createRandom(11);
  const nodes: GraphNode[] = [
    {
      name: 'input',
      op: 'Placeholder',
      attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dims([-1, 224, 224, 3]) } },
    },
  ];
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  const constant = (name: string, shape: number[], spread: number, offset = 0): string => {
    const size = shape.reduce((a, b) => a * b, 1);
    const values = Float32Array.from({ length: size }, () => offset + (random() - 0.5) * spread);
    const { bytes, quantization } = quantizeWeights(values, 'uint8');
    specs.push({ name, shape, dtype: 'float32', ...(quantization ? { quantization } : {}) });
    chunks.push(bytes);
    nodes.push({
      name,
      op: 'Const',
      attr: {
        dtype: { type: 'DT_FLOAT' },
        value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(shape) } },
      },
    });
    return name;
  };
  const conv = (
    name: string,
    input: string,
    filter: number[],
    stride: number,
    activation: 'Relu6' | null,
    depthwise = false,
  ): string => {
    const channels = depthwise ? (filter[2] as number) : (filter[3] as number);
    // Fan-in scaled weights: activations stay in ReLU6's useful range through the stack.
    const fanIn = depthwise ? 9 : (filter[0] as number) * (filter[1] as number) * filter[2]!;
    const f = constant(`${name}/filter`, filter, 4 / Math.sqrt(fanIn));
    const b = constant(`${name}/bias`, [channels], 0.2, 0.1);
    nodes.push({
      name,
      op: depthwise ? 'FusedDepthwiseConv2dNative' : '_FusedConv2D',
      input: [input, f, b],
      attr: {
        T: { type: 'DT_FLOAT' },
        strides: { list: { i: ['1', String(stride), String(stride), '1'] } },
        padding: { s: b64('SAME') },
        data_format: { s: b64('NHWC') },
        dilations: { list: { i: ['1', '1', '1', '1'] } },
        fused_ops: { list: { s: [b64('BiasAdd'), ...(activation ? [b64(activation)] : [])] } },
        num_args: { i: '1' },
        epsilon: { f: 0 },
      },
    });
    return name;
  };
  let x = conv('stem/conv', 'input', [3, 3, 3, 8], 2, 'Relu6');
  x = conv('block1/depthwise', x, [3, 3, 8, 1], 2, 'Relu6', true);
  x = conv('block1/project', x, [1, 1, 8, 16], 1, null);
  x = conv('block2/depthwise', x, [3, 3, 16, 1], 2, 'Relu6', true);
  x = conv('features/conv', x, [1, 1, 16, TINY_RECIPE_CHANNELS], 1, null);
  nodes.push({
    name: TINY_GRAPH_OUTPUT,
    op: 'Relu6',
    input: [x],
    attr: { T: { type: 'DT_FLOAT' } },
  });
  // The head the features stop before (nsfwjs's NSFW classifier).
  specs.push({ name: 'head/axes', shape: [2], dtype: 'int32' });
  chunks.push(new Uint8Array(Int32Array.from([1, 2]).buffer));
  nodes.push({
    name: 'head/axes',
    op: 'Const',
    attr: {
      dtype: { type: 'DT_INT32' },
      value: { tensor: { dtype: 'DT_INT32', tensorShape: dims([2]) } },
    },
  });
  nodes.push({
    name: 'head/pool',
    op: 'Mean',
    input: [TINY_GRAPH_OUTPUT, 'head/axes'],
    attr: { T: { type: 'DT_FLOAT' }, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } },
  });
  const weights = constant('head/weights', [TINY_RECIPE_CHANNELS, 5], 0.5);
  nodes.push({
    name: 'head/logits',
    op: 'MatMul',
    input: ['head/pool', weights],
    attr: { T: { type: 'DT_FLOAT' }, transpose_a: { b: false }, transpose_b: { b: false } },
  });
  nodes.push({
    name: 'head/probabilities',
    op: 'Softmax',
    input: ['head/logits'],
    attr: { T: { type: 'DT_FLOAT' } },
  });
  const shard = new Uint8Array(chunks.reduce((sum, c) => sum + c.byteLength, 0));
  let offset = 0;
  for (const c of chunks) {
    shard.set(c, offset);
    offset += c.byteLength;
  }
  const modelJson = {
    format: 'graph-model',
    generatedBy: 'wildlens tiny test backbone',
    convertedBy: 'wildlens tiny test backbone',
    modelTopology: { node: nodes, versions: { producer: 1 } },
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: specs }],
  };
  return new Map([
    ['model.json', new TextEncoder().encode(JSON.stringify(modelJson))],
    ['group1-shard1of1.bin', shard],
  ]);
}

/** A fetch answering from memory: `files` by URL path (`/<dir>/<name>`), 404 otherwise. */
function memoryFetch(files: Map<string, Uint8Array>): typeof fetch {
  return (async (input: string | URL | Request) => {
    const url = new URL(
      typeof input === 'string' ? input : 'url' in input ? input.url : input.href,
    );
    const body = files.get(url.pathname);
    return body ? new Response(new Uint8Array(body)) : new Response('not found', { status: 404 });
  }) as typeof fetch;
}

/** Serves each model under `/<dir>/`, with a fresh download cache (the test sees its own download). */
async function served(models: Record<string, ModelFiles>): Promise<LoadBackboneOptions> {
  const files = new Map<string, Uint8Array>();
  for (const [dir, model] of Object.entries(models))
    for (const [name, bytes] of model) files.set(`/${dir}/${name}`, bytes);
  return {
    cacheDir: await mkdtemp(path.join(os.tmpdir(), 'wl-tiny-backbone-')),
    fetchImpl: memoryFetch(files),
  };
}

/** The backbone param of a served model: its URL, the description in the fragment. */
function urlParam(dir: string, description: Record<string, string | number>): string {
  const fragment = new URLSearchParams(
    Object.entries({ ...description, license: LICENSE }).map(([k, v]) => [k, String(v)]),
  );
  return `${TINY_ORIGIN}/${dir}/model.json?tfjs-format=file#${fragment.toString()}`;
}

/**
 * The tiny backbone as a URL backbone param, and the load options that fetch it from memory
 * (a fresh download cache per call, so the test sees its own first download).
 */
export async function tinyUrlBackbone(): Promise<{
  backboneId: string;
  backboneOptions: LoadBackboneOptions;
  dispose(): void;
}> {
  const { model, files } = await tinyLayersModel();
  return {
    backboneId: urlParam('conv', { inputSize: TINY_BACKBONE_SIZE, normalisation: 'unit' }),
    backboneOptions: await served({ conv: files }),
    dispose: () => model.dispose(),
  };
}

export interface TinyRecipeBackbones {
  /** The nsfwjs-like graph part (`url:…`, unit input, 224): the npm-shipped backbone's place. */
  graphId: string;
  /** The MobileNetV1-like chain part run at 192 (`url:…@192`, mobilenet input). */
  chainId: string;
  /** Both, as the default recipe joins them: `graphId+chainId`. */
  ensembleId: string;
  /** Each part's files as served (model.json, group1-shard1of1.bin). */
  files: { graph: ModelFiles; chain: ModelFiles };
  /** Load options that fetch both from memory. */
  backboneOptions: LoadBackboneOptions;
}

/** Stand-ins for the default recipe's parts (see the header), registered in this process. */
export async function tinyRecipeBackbones(): Promise<TinyRecipeBackbones> {
  const graph = tinyGraphModelFiles();
  const chainModel = mobilenetLikeChain({ inputSize: 224, channels: TINY_RECIPE_CHANNELS });
  let chain: ModelFiles;
  try {
    chain = await layersModelFiles(chainModel);
  } finally {
    chainModel.dispose();
  }
  const backboneOptions = await served({ graph, chain });
  const graphId = (
    await resolveBackboneId(
      urlParam('graph', {
        inputSize: 224,
        normalisation: 'unit',
        featureOutput: TINY_GRAPH_OUTPUT,
      }),
    )
  ).id;
  const chainBase = (
    await resolveBackboneId(
      urlParam('chain', { inputSize: 224, normalisation: 'mobilenet', featureOutput: 'features' }),
    )
  ).id;
  const chainId = `${chainBase}@192`;
  return {
    graphId,
    chainId,
    ensembleId: `${graphId}+${chainId}`,
    files: { graph, chain },
    backboneOptions,
  };
}

/**
 * The tiny model's convolution as a backbone with a spatial feature map (its ReLU map: 15×15×16
 * at 32×32, any input size since it is one convolution), built in memory. The URL form above
 * pools inside the model, so it has no map: this one is what the bilinear pooling, the fit of
 * its bases and the maps kept from that fit are tested on, in milliseconds.
 */
export async function tinySpatialBackbone(): Promise<Backbone> {
  const { model } = await tinyLayersModel();
  const [kernel, bias] = model
    .getLayer('features_map')
    .getWeights()
    .map((w) => w.clone()) as [tf.Tensor4D, tf.Tensor1D];
  model.dispose();
  const spatial = (x: tf.Tensor4D): tf.Tensor4D =>
    tf.tidy(() => tf.relu(tf.add(tf.conv2d(x, kernel, 2, 'valid'), bias)) as tf.Tensor4D);
  return {
    spec: {
      id: 'tiny-spatial',
      inputSize: TINY_BACKBONE_SIZE,
      featureDim: TINY_BACKBONE_CHANNELS,
      preprocessing: 'unit',
      sources: [],
      featureOutputs: [],
      license: 'CC0-1.0 (test weights)',
      origin: 'tiny-backbone.ts',
    },
    execution: 'tiny',
    embed: (x) =>
      tf.tidy(() => {
        const pooled = tf.mean(spatial(x), [1, 2]);
        return tf.div(pooled, tf.add(tf.norm(pooled, 'euclidean', 1, true), 1e-8));
      }),
    spatial,
    spatialParts: (input, _keepSize, only) =>
      new Map(!only || only.includes(0) ? [[0, spatial(input)]] : []),
    dispose: () => tf.dispose([kernel, bias]),
  };
}
