import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKBONE_ID, getBackboneSpec, loadBackbone } from './backbones.js';
import { hasShared, SHARED_DIR } from './test-helpers.js';

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
    const spec = getBackboneSpec('mobilenet-v1-0.75+tm-mobilenet-v2-0.35');
    expect(spec.featureDim).toBe(768 + 1280);
    expect(() => getBackboneSpec('nope')).toThrow(/unknown backbone/);
  });

  describe.skipIf(!hasShared)('file and URL sources', () => {
    it('downloads once into the cache, then hits the cache', async () => {
      const modelDir = path.join(SHARED_DIR, 'models', 'tm-mobilenet-v2-0.35');
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
        urlOverride: `http://127.0.0.1:${port}/tm/model.json`,
      };
      try {
        const first = await loadBackbone('tm-mobilenet-v2-0.35', options);
        expect(requests).toEqual(['/tm/model.json', '/tm/weights.bin']);
        first.dispose();
        const second = await loadBackbone('tm-mobilenet-v2-0.35', options);
        expect(requests).toHaveLength(2);
        const out = second.embed(tf.zeros([1, 224, 224, 3]));
        expect(out.shape).toEqual([1, 1280]);
        out.dispose();
        second.dispose();
      } finally {
        server.close();
      }
    });

    it('loads a concatenated ensemble from the local models dir', async () => {
      const backbone = await loadBackbone('mobilenet-v1-0.75+tm-mobilenet-v2-0.35', {
        localDir: path.join(SHARED_DIR, 'models'),
      });
      const out = backbone.embed(tf.randomUniform([1, 224, 224, 3]));
      expect(out.shape).toEqual([1, 2048]);
      const norms = tf.tidy(() =>
        [tf.norm(tf.slice(out, [0, 0], [1, 768])), tf.norm(tf.slice(out, [0, 768], [1, 1280]))].map(
          (t) => t.dataSync()[0],
        ),
      );
      for (const n of norms) expect(n).toBeCloseTo(1, 3);
      out.dispose();
      backbone.dispose();
    });
  });
});
