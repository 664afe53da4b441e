/**
 * Offline bundles of the real backbones, in Node (no emulator used). The bundle's export and the
 * on-device runtime are unit-tested in seconds on tiny stand-ins of these backbones
 * (packages/model/src/offline-bundle.test.ts, packages/offline-runtime/src/runtime.test.ts);
 * here the real weights go through them: nsfwjs's MobileNetV2 cut as shipped, MobileNetV1
 * folded (float32 and float16), and the runtime answering like the server with them. Tens of
 * seconds of CPU (model loads, whole-photo passes): too slow for the unit step. Real photos in
 * Chromium: offline-bundle.test.ts; agreement and size on a trained model: `npm run bench:offline`.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfc from '@tensorflow/tfjs-converter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_BACKBONE_ID,
  FootprintModel,
  buildOfflineBundle,
  dirReader,
  initBackend,
  loadBackbone,
  readModelData,
  saveModel,
  type OfflineBundle,
} from '@wildlens/model';
import { loadOfflineBundle, type OfflineModel } from '@wildlens/offline-runtime';
import {
  hasShared,
  syntheticFormat2Model,
  texturedPhoto,
} from '../../packages/model/src/test-helpers.js';
import {
  browserDecode as decoded,
  memoryReader as readerOf,
} from '../../packages/offline-runtime/src/test-helpers.js';
import { NEEDS } from '../requirements.js';

const DEFAULT_RECIPE = 'nsfw-mobilenet-v2-mid+mobilenet-v1-0.75@192';
const SPECIES = [{ speciesId: 'loup', nameFr: 'Loup gris' }];

async function savedModel(backboneId: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wl-bundle-backbones-'));
  await saveModel(await syntheticFormat2Model(backboneId, 3), dir);
  return dir;
}

async function exported(
  backboneId: string,
  quantization?: 'float32' | 'float16',
): Promise<{ bundle: OfflineBundle; server: FootprintModel }> {
  const dir = await savedModel(backboneId);
  const bundle = await buildOfflineBundle({
    model: dirReader(dir),
    version: 'runtime-test',
    species: SPECIES,
    ...(quantization ? { quantization } : {}),
  });
  return { bundle, server: await FootprintModel.create(await readModelData(dirReader(dir))) };
}

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

/** Photos of every path: enlarged, reduced, oriented, PNG, and one shrunk on load by sharp. */
const PHOTOS: [number, number, Parameters<typeof texturedPhoto>[2]][] = [
  [300, 400, { seed: 31 }],
  [1024, 683, { seed: 32 }],
  [800, 600, { orientation: 6, seed: 33 }],
  [600, 450, { format: 'png', seed: 34 }],
  [2000, 1500, { seed: 35 }],
];

beforeAll(async () => {
  await initBackend();
});

describe('the npm-shipped backbone (nsfwjs MobileNetV2) in an offline bundle', () => {
  let bundle: OfflineBundle;
  let server: FootprintModel;
  let model: OfflineModel;

  beforeAll(async () => {
    ({ bundle, server } = await exported(DEFAULT_BACKBONE_ID));
    model = await loadOfflineBundle(bundle.manifest, readerOf(bundle.files));
  });

  afterAll(() => {
    model?.dispose();
    server?.dispose();
  });

  it('is cut at the pooled feature map, its uint8 weights kept, giving the server’s maps', async () => {
    const [part] = bundle.manifest.backbone.parts;
    expect(part).toMatchObject({
      id: DEFAULT_BACKBONE_ID,
      inputSize: 224,
      preprocessing: 'unit',
      weights: { origin: 'as-shipped', quantization: 'uint8' },
    });
    const json = JSON.parse(new TextDecoder().decode(bundle.files.get('backbone/0/model.json')));
    const ops = new Set(json.modelTopology.node.map((n: { op: string }) => n.op));
    expect(ops.has('Softmax')).toBe(false); // the NSFW head is gone
    const graph = await partGraph(bundle, 0);
    const backbone = await loadBackbone(DEFAULT_BACKBONE_ID);
    // Spatial dims are free (whole-photo views): the same map as the server's at any size.
    const input = tf.randomUniform([1, 256, 192, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const expected = backbone.spatialParts!(input, true).get(0)!;
    const actual = graph.execute(input, part!.output) as tf.Tensor;
    expect(actual.shape).toEqual(expected.shape);
    expect(tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0]).toBe(0);
    tf.dispose([input, expected, actual]);
    graph.dispose();
    backbone.dispose();
  });

  it('answers like the server on the runtime: same verdict, same probabilities', async () => {
    for (const [width, height, options] of PHOTOS) {
      const bytes = await texturedPhoto(width, height, options);
      const expected = await server.predict(bytes);
      const actual = model.identify(await decoded(bytes));
      const label = `${width}×${height} ${JSON.stringify(options)}`;
      expect(actual.verdict, label).toBe(expected.verdict);
      expect(actual.domain, label).toBe(expected.domain);
      expect(
        actual.top.map((t) => t.speciesId),
        label,
      ).toEqual(expected.top.map((t) => t.speciesId));
      // Bit-exact pixels give the server's features; the shrunk-on-load JPEG is a few levels off.
      const tolerance = width >= 2000 ? 0.01 : 1e-5;
      for (const { speciesId, probability } of expected.top)
        expect(Math.abs(actual.probabilities[speciesId]! - probability), label).toBeLessThan(
          tolerance,
        );
    }
  });
});

describe.skipIf(!hasShared)(
  'the default recipe (MobileNetV2 + MobileNetV1 folded) in an offline bundle',
  NEEDS.shared,
  () => {
    it('exports the folded MobileNetV1 as a graph model giving the server’s feature maps', async () => {
      const modelDir = await savedModel(DEFAULT_RECIPE);
      const server = await loadBackbone(DEFAULT_RECIPE);
      const input = tf.randomUniform([1, 224, 224, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
      const whole = tf.randomUniform([1, 336, 448, 3], 0, 1, 'float32', 10) as tf.Tensor4D;
      const expected = server.spatialParts!(input).get(1)!;
      const expectedWhole = server.spatialParts!(whole, true).get(1)!;
      for (const quantization of ['float32', 'float16'] as const) {
        const bundle = await buildOfflineBundle({
          model: dirReader(modelDir),
          version: 'v',
          species: SPECIES,
          quantization,
        });
        const part = bundle.manifest.backbone.parts[1]!;
        expect(part).toMatchObject({
          id: 'mobilenet-v1-0.75@192',
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
        const scale = tf.max(tf.abs(expected)).dataSync()[0]!;
        const error = tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0]!;
        const errorWhole = tf.max(tf.abs(tf.sub(actualWhole, expectedWhole))).dataSync()[0]!;
        // float32: the same fused kernels on the same folded weights; float16: weights rounded to 11 bits.
        const bound = quantization === 'float32' ? 1e-4 * scale : 0.05 * scale;
        expect(error, quantization).toBeLessThanOrEqual(bound);
        expect(errorWhole, quantization).toBeLessThanOrEqual(bound);
        const weights = bundle.files.get('backbone/1/weights.bin')!.byteLength;
        expect(weights).toBeLessThan(quantization === 'float32' ? 8_000_000 : 4_000_000);
        tf.dispose([adapted, actual, actualWhole]);
        graph.dispose();
      }
      tf.dispose([input, whole, expected, expectedWhole]);
      server.dispose();
    });

    it('agrees with the server on the runtime with float32 and float16 MobileNetV1 weights', async () => {
      for (const quantization of ['float32', 'float16'] as const) {
        const { bundle, server } = await exported(DEFAULT_RECIPE, quantization);
        const model = await loadOfflineBundle(bundle.manifest, readerOf(bundle.files));
        try {
          for (const [width, height, options] of PHOTOS.slice(0, 4)) {
            const bytes = await texturedPhoto(width, height, options);
            const expected = await server.predict(bytes);
            const actual = model.identify(await decoded(bytes));
            expect(actual.top[0]!.speciesId).toBe(expected.top[0]!.speciesId);
            const tolerance = quantization === 'float32' ? 1e-5 : 0.01;
            for (const { speciesId, probability } of expected.top)
              expect(
                Math.abs(actual.probabilities[speciesId]! - probability),
                quantization,
              ).toBeLessThan(tolerance);
          }
        } finally {
          model.dispose();
          server.dispose();
        }
      }
    });
  },
);
