/**
 * The offline bundle's export on tiny stand-ins of the default recipe's backbones
 * (tiny-backbone.ts): a graph model kept as shipped (uint8, cut before its head) and a
 * MobileNetV1-like conv chain folded into fused kernels (float32 / float16). That the real
 * MobileNetV2 and MobileNetV1 weights go through it the same way is tested in
 * tests/e2e/offline-bundle-backbones.test.ts.
 */
import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfc from '@tensorflow/tfjs-converter';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBackbone } from './backbones.js';
import { initBackend } from './backend.js';
import { dirReader, saveModel } from './model-format.js';
import {
  buildOfflineBundle,
  stableJson,
  type OfflineBundle,
  type OfflineBundleInput,
} from './offline-bundle.js';
import {
  OFFLINE_BUNDLE_MANIFEST,
  parseOfflineBundleManifest,
  verifyBundleFile,
} from './offline-bundle-format.js';
import { float16Bits, quantizeWeights } from './quantize.js';
import { syntheticFormat2Model } from './test-helpers.js';
import {
  TINY_GRAPH_OUTPUT,
  tinyRecipeBackbones,
  type TinyRecipeBackbones,
} from './tiny-backbone.js';

const SPECIES = [
  {
    speciesId: 'loup',
    nameFr: 'Loup gris',
    description: 'Un canidé.',
    exampleImage: { path: '/species/loup.svg', alt: 'Dessin', credit: 'CC0' },
    track: { toes: '4/4', claws: true, lengthCm: '9–13', description: 'Ovale.' },
  },
  { speciesId: 'lynx', nameFr: 'Lynx boréal', traits: { gait: 'trot' } },
  { speciesId: 'castor', nameFr: 'Castor' },
];

let tiny: TinyRecipeBackbones;

async function savedModel(backboneId: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wl-bundle-model-'));
  await saveModel(await syntheticFormat2Model(backboneId, 1, tiny.backboneOptions), dir);
  return dir;
}

/** buildOfflineBundle with the tiny backbones' load options. */
const build = (input: Omit<OfflineBundleInput, 'backbone'>): Promise<OfflineBundle> =>
  buildOfflineBundle({ ...input, backbone: tiny.backboneOptions });

/** A bundle part's graph model, loaded from the bundle's bytes. */
async function partGraph(bundle: OfflineBundle, index: number): Promise<tfc.GraphModel> {
  const part = bundle.manifest.backbone.parts[index]!;
  const json = JSON.parse(new TextDecoder().decode(bundle.files.get(part.model)));
  return tfc.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0].weights,
      weightData: bundle.files.get(`backbone/${index}/weights.bin`)!.slice().buffer,
    }),
  );
}

beforeAll(async () => {
  await initBackend();
  tiny = await tinyRecipeBackbones();
});

describe('quantizeWeights', () => {
  it('encodes IEEE half floats, rounding to nearest even', () => {
    expect(float16Bits(1)).toBe(0x3c00);
    expect(float16Bits(-2)).toBe(0xc000);
    expect(float16Bits(65504)).toBe(0x7bff);
    expect(float16Bits(1e6)).toBe(0x7c00);
    expect(float16Bits(0.1)).toBe(0x2e66);
    expect(float16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(float16Bits(2 ** -26)).toBe(0x0000);
    expect(float16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(float16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(float16Bits(-0)).toBe(0x8000);
  });

  it('round-trips through tfjs’s own weight decoder', () => {
    const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * (1 + (i % 7)));
    for (const dtype of ['float32', 'float16', 'uint8'] as const) {
      const { bytes, quantization } = quantizeWeights(values, dtype);
      const decoded = tf.io.decodeWeights(bytes.slice().buffer, [
        {
          name: 'w',
          shape: [values.length],
          dtype: 'float32',
          ...(quantization ? { quantization } : {}),
        },
      ]);
      const back = decoded.w!.dataSync();
      const maxError = Math.max(...Array.from(back, (v, i) => Math.abs(v - values[i]!)));
      // float16: 11 significant bits on values up to 7; uint8: half a step of (max − min) / 255.
      const bound = { float32: 0, float16: 7 * 2 ** -11, uint8: (14 / 255) * 0.5 + 1e-6 }[dtype];
      expect(maxError, dtype).toBeLessThanOrEqual(bound);
      expect(bytes.byteLength).toBe(values.length * { float32: 4, float16: 2, uint8: 1 }[dtype]);
      decoded.w!.dispose();
    }
  });
});

describe('buildOfflineBundle (a graph backbone kept as shipped, like the npm-shipped MobileNetV2)', () => {
  let bundle: OfflineBundle;
  let modelDir: string;

  beforeAll(async () => {
    modelDir = await savedModel(tiny.graphId);
    bundle = await build({ model: dirReader(modelDir), version: 'v-test', species: SPECIES });
  });

  it('lists every file with its SHA-256 and size, bundle.json last and apart', async () => {
    const manifest = parseOfflineBundleManifest(
      JSON.parse(new TextDecoder().decode(bundle.files.get(OFFLINE_BUNDLE_MANIFEST))),
    );
    expect(manifest).toEqual(bundle.manifest);
    expect(manifest.version).toBe('v-test');
    expect(manifest.files.map((f) => f.path)).toEqual([
      'backbone/0/model.json',
      'backbone/0/weights.bin',
      'model/head.bin',
      'model/manifest.json',
      'species.json',
    ]);
    for (const entry of manifest.files) {
      const bytes = bundle.files.get(entry.path)!;
      expect(entry.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      await verifyBundleFile(entry, bytes);
    }
    expect(manifest.totalSize).toBe(manifest.files.reduce((s, f) => s + f.size, 0));
    expect(bundle.files.size).toBe(manifest.files.length + 1);
  });

  it('keeps the model as served: head.bin byte for byte, the manifest without training records', async () => {
    const head = await dirReader(modelDir).readFile('head.bin');
    expect(
      Buffer.compare(Buffer.from(bundle.files.get('model/head.bin')!), Buffer.from(head)),
    ).toBe(0);
    const served = JSON.parse(new TextDecoder().decode(bundle.files.get('model/manifest.json')));
    expect(served.metrics).toBeUndefined();
    expect(served.training).toBeUndefined();
    expect(served.holdout).toBeUndefined();
    expect(served.features).toBeDefined();
    expect(served.domainCalibration.byDomain.field.temperature).toBe(1.5);
  });

  it('carries the French sheets of the model’s species, text only, extra fields included', () => {
    const { species } = JSON.parse(new TextDecoder().decode(bundle.files.get('species.json')));
    expect(species.map((s: { speciesId: string }) => s.speciesId)).toEqual([
      'loup',
      'lynx',
      'renard',
    ]);
    expect(species[0].exampleImage).toBeUndefined();
    expect(species[0].track.description).toBe('Ovale.');
    expect(species[1].traits).toEqual({ gait: 'trot' });
    // A label without a sheet still has its entry (the app shows the id).
    expect(species[2]).toEqual({ speciesId: 'renard' });
  });

  it('cuts the backbone at its feature map and keeps its shipped uint8 weights byte for byte', async () => {
    const [part] = bundle.manifest.backbone.parts;
    expect(part).toMatchObject({
      id: tiny.graphId,
      output: TINY_GRAPH_OUTPUT,
      inputSize: 224,
      preprocessing: 'unit',
      weights: { origin: 'as-shipped', quantization: 'uint8' },
    });
    const json = JSON.parse(new TextDecoder().decode(bundle.files.get('backbone/0/model.json')));
    const ops = new Set(json.modelTopology.node.map((n: { op: string }) => n.op));
    expect(ops.has('Softmax')).toBe(false); // the classification head is gone
    expect(ops.has('MatMul')).toBe(false);
    // The kept weights are the shipped bytes: the shard less the head's weights (stored last).
    const shipped = JSON.parse(new TextDecoder().decode(tiny.files.graph.get('model.json')));
    const shippedSpecs = shipped.weightsManifest[0].weights as tf.io.WeightsManifestEntry[];
    const kept = shippedSpecs.filter((w) => !w.name.startsWith('head/'));
    expect(json.weightsManifest[0].weights).toEqual(kept);
    const shard = tiny.files.graph.get('group1-shard1of1.bin')!;
    const weights = bundle.files.get('backbone/0/weights.bin')!;
    const keptBytes = kept.reduce((sum, w) => sum + w.shape.reduce((a, b) => a * b, 1), 0);
    expect(weights.byteLength).toBe(keptBytes); // one byte per uint8 weight
    expect(Buffer.compare(Buffer.from(weights), Buffer.from(shard.subarray(0, keptBytes)))).toBe(0);
    const graph = await partGraph(bundle, 0);
    const server = await loadBackbone(tiny.graphId, tiny.backboneOptions);
    // Spatial dims are free (whole-photo views): the same map as the server's at any size.
    const input = tf.randomUniform([1, 256, 192, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const expected = server.spatialParts!(input, true).get(0)!;
    const actual = graph.execute(input, part!.output) as tf.Tensor;
    expect(actual.shape).toEqual(expected.shape);
    expect(tf.max(expected).dataSync()[0]).toBeGreaterThan(0.1); // a live map, not zeros
    expect(tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0]).toBe(0);
    tf.dispose([input, expected, actual]);
    graph.dispose();
    server.dispose();
  });

  it('is deterministic: the same model gives the same bytes', async () => {
    const again = await build({
      model: dirReader(modelDir),
      version: 'v-test',
      species: [...SPECIES].reverse(),
    });
    for (const [file, bytes] of bundle.files)
      expect(Buffer.compare(Buffer.from(again.files.get(file)!), Buffer.from(bytes)), file).toBe(0);
  });

  it('refuses a format-1 model', async () => {
    const manifest = JSON.parse(
      new TextDecoder().decode(await dirReader(modelDir).readFile('manifest.json')),
    );
    delete manifest.features;
    manifest.formatVersion = 1;
    const reader = {
      readFile: async (p: string) =>
        p === 'manifest.json'
          ? new TextEncoder().encode(JSON.stringify(manifest))
          : dirReader(modelDir).readFile(p),
    };
    await expect(build({ model: reader, version: 'old', species: SPECIES })).rejects.toThrow(
      /only models with a feature recipe/,
    );
  });
});

describe('buildOfflineBundle (the default recipe’s shape: a graph part and a conv chain folded, run at 192)', () => {
  it('exports the folded chain as a graph model giving the server’s feature maps', async () => {
    const modelDir = await savedModel(tiny.ensembleId);
    const server = await loadBackbone(tiny.ensembleId, tiny.backboneOptions);
    const input = tf.randomUniform([1, 224, 224, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const whole = tf.randomUniform([1, 336, 448, 3], 0, 1, 'float32', 10) as tf.Tensor4D;
    const expected = server.spatialParts!(input).get(1)!;
    const expectedWhole = server.spatialParts!(whole, true).get(1)!;
    const scale = tf.max(tf.abs(expected)).dataSync()[0]!;
    expect(scale).toBeGreaterThan(0.1); // a live map, not zeros
    const weightBytes: Record<string, number> = {};
    for (const quantization of ['float32', 'float16'] as const) {
      const bundle = await build({
        model: dirReader(modelDir),
        version: 'v',
        species: SPECIES,
        quantization,
      });
      expect(bundle.manifest.backbone.parts.map((p) => p.id)).toEqual([tiny.graphId, tiny.chainId]);
      // The graph part stays as shipped whatever the quantisation asked for exported weights.
      expect(bundle.manifest.backbone.parts[0]!.weights).toEqual({
        origin: 'as-shipped',
        quantization: 'uint8',
      });
      const part = bundle.manifest.backbone.parts[1]!;
      expect(part).toMatchObject({
        id: tiny.chainId,
        inputSize: 192,
        preprocessing: 'mobilenet',
        weights: { origin: 'exported', quantization },
      });
      const graph = await partGraph(bundle, 1);
      // The server adapts the ensemble's input for the part: MobileNet range, 192 px.
      const adapted = tf.image.resizeBilinear(
        tf.sub(tf.mul(input, 2), 1) as tf.Tensor4D,
        [192, 192],
        true,
      );
      const actual = graph.execute(adapted, part.output) as tf.Tensor;
      const actualWhole = graph.execute(tf.sub(tf.mul(whole, 2), 1), part.output) as tf.Tensor;
      expect(actual.shape).toEqual(expected.shape);
      expect(actualWhole.shape).toEqual(expectedWhole.shape);
      const error = tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0]!;
      const errorWhole = tf.max(tf.abs(tf.sub(actualWhole, expectedWhole))).dataSync()[0]!;
      // float32: the same fused kernels on the same folded weights; float16: weights rounded to 11 bits.
      const bound = quantization === 'float32' ? 1e-4 * scale : 0.05 * scale;
      expect(error, quantization).toBeLessThanOrEqual(bound);
      expect(errorWhole, quantization).toBeLessThanOrEqual(bound);
      weightBytes[quantization] = bundle.files.get('backbone/1/weights.bin')!.byteLength;
      tf.dispose([adapted, actual, actualWhole]);
      graph.dispose();
    }
    // Three folded convolutions (filter and bias each), at 4 then 2 bytes a weight.
    expect(weightBytes.float16! * 2).toBe(weightBytes.float32);
    tf.dispose([input, whole, expected, expectedWhole]);
    server.dispose();
  });
});

describe('stableJson', () => {
  it('sorts keys at every level', () => {
    expect(stableJson({ b: 1, a: { d: [{ y: 1, x: 2 }], c: 3 } })).toBe(
      '{"a":{"c":3,"d":[{"x":2,"y":1}]},"b":1}',
    );
  });
});
