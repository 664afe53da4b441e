import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import {
  AUTO_BACKBONE_ID,
  DEFAULT_BACKBONE_ID,
  PREFERRED_BACKBONE_ID,
  getBackboneSpec,
  loadBackbone,
  resolveBackboneId,
} from './backbones.js';
import { hasShared, SHARED_DIR } from './test-helpers.js';
import { NEEDS } from '../../../tests/requirements.js';

/** A tfjs IOHandler reading model.json and its shards from a directory (tfjs-node's file:// is not installed). */
function tfFileHandler(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const modelJson = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as {
        modelTopology: tf.io.ModelArtifacts['modelTopology'];
        weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
      };
      const shards = await Promise.all(
        modelJson.weightsManifest.flatMap((g) => g.paths.map((p) => readFile(path.join(dir, p)))),
      );
      const all = Buffer.concat(shards);
      return {
        modelTopology: modelJson.modelTopology,
        weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
      };
    },
  };
}

describe('backbones', () => {
  it('the default backbone ships inside an npm package (no ../shared, no network)', async () => {
    const spec = getBackboneSpec(DEFAULT_BACKBONE_ID);
    expect(spec.sources.map((s) => s.kind)).toEqual(['npm']);
    const backbone = await loadBackbone(DEFAULT_BACKBONE_ID, {
      localDir: '/nonexistent',
      cacheDir: '/nonexistent',
    });
    const out = backbone.embed(tf.zeros([2, spec.inputSize, spec.inputSize, 3]));
    expect(out.shape).toEqual([2, spec.featureDim]);
    out.dispose();
    backbone.dispose();
  });

  it('describes ensembles as concatenations', () => {
    const spec = getBackboneSpec('mobilenet-v1-0.75+nsfw-mobilenet-v2-mid');
    expect(spec.featureDim).toBe(768 + 1792);
    expect(() => getBackboneSpec('nope')).toThrow(/unknown backbone/);
  });

  it('auto falls back to the npm-shipped default when the preferred weights cannot be had', async () => {
    const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'wl-bb-auto-'));
    // Port 9 (discard) on loopback: refused at once, like an offline machine.
    const choice = await resolveBackboneId(AUTO_BACKBONE_ID, {
      localDir: '/nonexistent',
      cacheDir,
      urlOverride: 'http://127.0.0.1:9/model.json',
    });
    expect(choice.id).toBe(DEFAULT_BACKBONE_ID);
    expect(choice.reason).toMatch(/unavailable/);
    expect(choice.reason).toContain('/nonexistent/mobilenet-v1-0.75/model.json');
    expect(
      await resolveBackboneId(undefined, {
        localDir: '/nonexistent',
        cacheDir,
        urlOverride: 'http://127.0.0.1:9/model.json',
      }),
    ).toEqual(choice);
  });

  it('takes an explicit backbone id as asked, and refuses unknown ones', async () => {
    expect(await resolveBackboneId('mobilenet-v1-0.75')).toEqual({
      id: 'mobilenet-v1-0.75',
      reason: 'requested',
    });
    await expect(resolveBackboneId('nope')).rejects.toThrow(/unknown backbone/);
  });

  describe.skipIf(!hasShared)('file and URL sources', NEEDS.shared, () => {
    it('auto picks the preferred ensemble when its weights are in the local models dir', async () => {
      const choice = await resolveBackboneId(AUTO_BACKBONE_ID, {
        localDir: path.join(SHARED_DIR, 'models'),
      });
      expect(choice.id).toBe(PREFERRED_BACKBONE_ID);
      expect(choice.reason).toContain(path.join(SHARED_DIR, 'models', 'mobilenet-v1-0.75'));
    });

    it('downloads once into the cache, then hits the cache', async () => {
      const modelDir = path.join(SHARED_DIR, 'models', 'mobilenet-v1-0.75');
      const shards = (
        JSON.parse(await readFile(path.join(modelDir, 'model.json'), 'utf8')) as {
          weightsManifest: { paths: string[] }[];
        }
      ).weightsManifest.flatMap((g) => g.paths);
      const requests: string[] = [];
      const server = createServer(async (req, res) => {
        requests.push(req.url ?? '');
        try {
          res.end(await readFile(path.join(modelDir, path.basename(req.url ?? ''))));
        } catch {
          res.statusCode = 404;
          res.end();
        }
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'wl-bb-cache-'));
      const options = {
        localDir: '/nonexistent',
        cacheDir,
        urlOverride: `http://127.0.0.1:${port}/v1/model.json`,
      };
      try {
        const first = await loadBackbone('mobilenet-v1-0.75', options);
        expect(requests).toEqual(['/v1/model.json', ...shards.map((p) => `/v1/${p}`)]);
        first.dispose();
        const second = await loadBackbone('mobilenet-v1-0.75', options);
        expect(requests).toHaveLength(1 + shards.length);
        const out = second.embed(tf.zeros([1, 224, 224, 3]));
        expect(out.shape).toEqual([1, 768]);
        out.dispose();
        second.dispose();
      } finally {
        server.close();
      }
    });

    it('runs MobileNetV1 as fused convolutions with the same features as the layers model', async () => {
      const dir = path.join(SHARED_DIR, 'models', 'mobilenet-v1-0.75');
      const full = await tfl.loadLayersModel(tfFileHandler(dir));
      const reference = tfl.model({
        inputs: full.inputs,
        outputs: full.getLayer('global_average_pooling2d_1').output as tfl.SymbolicTensor,
      });
      const backbone = await loadBackbone('mobilenet-v1-0.75', {
        localDir: path.join(SHARED_DIR, 'models'),
      });
      expect(backbone.execution).toBe('fused-chain');
      const input = tf.randomUniform([2, 224, 224, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
      const maxError = tf.tidy(() => {
        const pooled = reference.predict(input) as tf.Tensor2D;
        const expected = tf.div(pooled, tf.norm(pooled, 'euclidean', 1, true));
        return tf.max(tf.abs(tf.sub(backbone.embed(input), expected))).dataSync()[0] as number;
      });
      expect(maxError).toBeLessThan(1e-4);
      input.dispose();
      backbone.dispose();
      full.dispose();
    });

    it('loads a concatenated ensemble from the local models dir', async () => {
      const backbone = await loadBackbone('mobilenet-v1-0.75+nsfw-mobilenet-v2-mid', {
        localDir: path.join(SHARED_DIR, 'models'),
      });
      const out = backbone.embed(tf.randomUniform([1, 224, 224, 3]));
      expect(out.shape).toEqual([1, 768 + 1792]);
      const norms = tf.tidy(() =>
        [tf.norm(tf.slice(out, [0, 0], [1, 768])), tf.norm(tf.slice(out, [0, 768], [1, 1792]))].map(
          (t) => t.dataSync()[0],
        ),
      );
      for (const n of norms) expect(n).toBeCloseTo(1, 3);
      out.dispose();
      backbone.dispose();
    });
  });
});
