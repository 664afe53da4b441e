/**
 * A tiny backbone for tests of the training logic: a seeded conv → ReLU → global average pool
 * layers model (16-d features at 32×32), handed to the library as a URL backbone whose files
 * are served from memory by an injected fetch. Training on it takes seconds where a real
 * backbone takes minutes: what it learns means nothing, what the library does with it (caches,
 * bases, per-domain figures, the saved format) is the same.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Backbone, LoadBackboneOptions } from './backbones.js';

export const TINY_BACKBONE_SIZE = 32;
export const TINY_BACKBONE_CHANNELS = 16;

/** The tiny layers model and its tfjs export files (model.json, one weights shard). */
export async function tinyLayersModel(): Promise<{
  model: tfl.LayersModel;
  files: Map<string, Uint8Array>;
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
  const files = new Map<string, Uint8Array>();
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
  return { model, files };
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
  const origin = 'http://tiny-backbone.invalid';
  const fetchImpl = (async (input: string | URL | Request) => {
    const url = new URL(
      typeof input === 'string' ? input : 'url' in input ? input.url : input.href,
    );
    const body = files.get(url.pathname.slice(1));
    return body ? new Response(new Uint8Array(body)) : new Response('not found', { status: 404 });
  }) as typeof fetch;
  return {
    backboneId: `${origin}/model.json?tfjs-format=file#inputSize=${TINY_BACKBONE_SIZE}&normalisation=unit&license=CC0-1.0%20(test%20weights)`,
    backboneOptions: {
      cacheDir: await mkdtemp(path.join(os.tmpdir(), 'wl-tiny-backbone-')),
      fetchImpl,
    },
    dispose: () => model.dispose(),
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
    tf.tidy(() => tf.relu(tf.add(tf.conv2d(x, kernel, 2, 'valid'), bias)));
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
