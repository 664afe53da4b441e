import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { cp, mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_BACKBONE_ID,
  getBackboneSpec,
  loadBackbone,
  resolveBackboneId,
} from './backbones.js';
import { initBackend } from './backend.js';
import { loadFootprintModelFromDir, saveModel } from './model-format.js';
import { trainFootprintModel } from './training.js';
import { TINY_BACKBONE_CHANNELS, TINY_BACKBONE_SIZE, tinyLayersModel } from './tiny-backbone.js';
import { forgetUrlBackbones, parseUrlBackboneParam, urlBackboneId } from './url-backbones.js';

const SIZE = TINY_BACKBONE_SIZE;
const CHANNELS = TINY_BACKBONE_CHANNELS;

/** The tiny layers model of tiny-backbone.ts, written as a tfjs export (model.json + one shard). */
async function writeTinyLayersModel(dir: string): Promise<tfl.LayersModel> {
  const { model, files } = await tinyLayersModel();
  for (const [name, bytes] of files) await writeFile(path.join(dir, name), bytes);
  return model;
}

/** nsfwjs's MobileNetV2-mid (a TF-Hub feature-vector graph model) as plain tfjs files, like a converted TF-Hub download. */
async function writeNpmGraphModel(dir: string): Promise<void> {
  const require = createRequire(import.meta.url);
  const main = require.resolve('nsfwjs');
  const modelDir = path.join(
    main.slice(0, main.lastIndexOf(`${path.sep}dist${path.sep}`)),
    'dist',
    'models',
    'mobilenet_v2_mid',
  );
  const modelJson = require(path.join(modelDir, 'model.min.js')) as {
    weightsManifest: { paths: string[] }[];
  };
  await writeFile(path.join(dir, 'model.json'), JSON.stringify(modelJson));
  for (const p of modelJson.weightsManifest.flatMap((g) => g.paths))
    await writeFile(
      path.join(dir, p),
      Buffer.from(require(path.join(modelDir, `${p}.min.js`)) as string, 'base64'),
    );
}

/** SHA-256 of model.json then its shards in weightsManifest order (what a manifest records). */
async function weightsDigest(dir: string): Promise<string> {
  const modelJson = await readFile(path.join(dir, 'model.json'));
  const hash = createHash('sha256').update(modelJson);
  const manifest = JSON.parse(modelJson.toString()) as { weightsManifest: { paths: string[] }[] };
  for (const p of manifest.weightsManifest.flatMap((g) => g.paths))
    hash.update(await readFile(path.join(dir, p)));
  return hash.digest('hex');
}

function l2Rows(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.norm(x, 'euclidean', 1, true));
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

async function syntheticPhoto(kind: number, i: number): Promise<Buffer> {
  const colours = ['#8b4513', '#2e8b57', '#dcdcdc'];
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="200"><rect width="100%" height="100%" fill="${colours[kind]}"/><circle cx="${80 + i * 8}" cy="100" r="${30 + kind * 15}" fill="#202020"/></svg>`;
  return sharp(Buffer.from(svg)).jpeg().toBuffer();
}

describe('URL backbones, served by a local HTTP server', () => {
  let server: Server;
  let base: string;
  const requests: string[] = [];
  let root: string;
  let layersDir: string;
  let graphDir: string;
  let tinyModel: tfl.LayersModel;

  const tmp = (prefix: string) => mkdtemp(path.join(os.tmpdir(), prefix));
  const layersParam = (extra = '') =>
    `${base}/layers/model.json?tfjs-format=file#inputSize=${SIZE}&normalisation=unit&license=CC0-1.0%20(test%20weights)${extra}`;

  beforeAll(async () => {
    await initBackend();
    root = await tmp('wl-url-bb-');
    layersDir = path.join(root, 'layers');
    graphDir = path.join(root, 'graph');
    await Promise.all([layersDir, graphDir, path.join(root, 'broken')].map((d) => mkdir(d)));
    tinyModel = await writeTinyLayersModel(layersDir);
    await writeNpmGraphModel(graphDir);
    await writeFile(path.join(root, 'broken', 'model.json'), '<html>Not found</html>');
    const partial = JSON.parse(await readFile(path.join(layersDir, 'model.json'), 'utf8')) as {
      weightsManifest: { paths: string[] }[];
    };
    partial.weightsManifest[0]!.paths = ['missing-shard.bin'];
    await writeFile(path.join(root, 'broken', 'partial.json'), JSON.stringify(partial));

    server = createServer(async (req, res) => {
      requests.push(req.url ?? '');
      const { pathname } = new URL(req.url ?? '/', 'http://x');
      const file = path.join(
        root,
        pathname === '/broken/model-partial.json' ? '/broken/partial.json' : pathname,
      );
      try {
        if (!file.startsWith(root + path.sep)) throw new Error('outside');
        res.end(await readFile(file));
      } catch {
        res.statusCode = 404;
        res.end('not found');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    tinyModel?.dispose();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('reads a param as JSON or as a URL with a fragment, into one content-hashed id', () => {
    const fromUrl = parseUrlBackboneParam(layersParam());
    const fromJson = parseUrlBackboneParam(
      JSON.stringify({
        license: 'CC0-1.0 (test weights)',
        normalisation: 'unit',
        inputSize: SIZE,
        url: `${base}/layers/model.json?tfjs-format=file`,
      }),
    );
    expect(fromJson).toEqual(fromUrl);
    expect(fromUrl.url).toBe(`${base}/layers/model.json?tfjs-format=file`);
    expect(urlBackboneId(fromUrl)).toMatch(/^url:[0-9a-f]{16}$/);
    expect(urlBackboneId(fromJson)).toBe(urlBackboneId(fromUrl));
    expect(urlBackboneId(parseUrlBackboneParam(layersParam('&featureDim=16')))).not.toBe(
      urlBackboneId(fromUrl),
    );
    expect(() => parseUrlBackboneParam(`${base}/m.json#inputSize=224&normalisation=unit`)).toThrow(
      /license/,
    );
    expect(() => parseUrlBackboneParam(`${base}/m.json`)).toThrow(/quote the value/);
    expect(() => parseUrlBackboneParam(`${layersParam()}&colour=blue`)).toThrow(
      /unknown field\(s\) colour/,
    );
    expect(() =>
      parseUrlBackboneParam(layersParam().replace('normalisation=unit', 'normalisation=raw')),
    ).toThrow(/normalisation/);
    expect(() => parseUrlBackboneParam('{"url": "ftp://host/model.json"')).toThrow(
      /not valid JSON/,
    );
    expect(() => getBackboneSpec('url:0123456789abcdef')).toThrow(/manifest/);
  });

  it('downloads a layers model once (shards with the query string), then loads it from the cache without a request', async () => {
    const cacheDir = await tmp('wl-url-cache-');
    const choice = await resolveBackboneId(layersParam());
    expect(choice).toEqual({
      id: urlBackboneId(parseUrlBackboneParam(layersParam())),
      reason: `requested: ${base}/layers/model.json?tfjs-format=file`,
    });
    requests.length = 0;
    const first = await loadBackbone(choice.id, { cacheDir });
    expect(requests).toEqual([
      '/layers/model.json?tfjs-format=file',
      '/layers/group1-shard1of1.bin?tfjs-format=file',
    ]);
    expect(first.execution).toBe('layers');
    expect(first.spec.featureDim).toBe(CHANNELS);
    expect(first.spec.license).toBe('CC0-1.0 (test weights)');
    const input = tf.randomUniform([2, SIZE, SIZE, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const expected = tf.tidy(() => l2Rows(tinyModel.predict(input) as tf.Tensor2D));
    const a = first.embed(input);
    expect(maxAbsDiff(a, expected)).toBeLessThan(1e-5);
    first.dispose();

    const second = await loadBackbone(choice.id, { cacheDir });
    expect(requests).toHaveLength(2);
    const b = second.embed(input);
    expect(maxAbsDiff(a, b)).toBe(0);
    second.dispose();
    tf.dispose([input, expected, a, b]);
  });

  it('pools a named 4-D layer and applies ImageNet mean/std inside the backbone', async () => {
    const cacheDir = await tmp('wl-url-cache-');
    const { id } = await resolveBackboneId(
      layersParam('&featureOutput=features_map&featureDim=16').replace(
        'normalisation=unit',
        'normalisation=imagenet',
      ),
    );
    const backbone = await loadBackbone(id, { cacheDir });
    expect(backbone.spec.preprocessing).toBe('unit');
    const truncated = tfl.model({
      inputs: tinyModel.inputs,
      outputs: tinyModel.getLayer('features_map').output as tfl.SymbolicTensor,
    });
    const input = tf.randomUniform([2, SIZE, SIZE, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const expected = tf.tidy(() => {
      const standardised = tf.div(tf.sub(input, [0.485, 0.456, 0.406]), [0.229, 0.224, 0.225]);
      return l2Rows(tf.mean(truncated.predict(standardised) as tf.Tensor4D, [1, 2]) as tf.Tensor2D);
    });
    const actual = backbone.embed(input);
    expect(maxAbsDiff(actual, expected)).toBeLessThan(1e-5);
    backbone.dispose();
    tf.dispose([input, expected, actual]);

    // A declared feature size that the weights do not give is refused at load.
    const wrong = await resolveBackboneId(layersParam('&featureDim=99'));
    await expect(loadBackbone(wrong.id, { cacheDir })).rejects.toThrow(
      /gives 16-d features, the description says 99/,
    );
  });

  it('detects a graph model and average-pools a named node: same features as the npm-shipped backbone', async () => {
    const cacheDir = await tmp('wl-url-cache-');
    const node =
      'StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/MobilenetV2/Conv_1/Relu6';
    const { id } = await resolveBackboneId(
      JSON.stringify({
        url: `${base}/graph/model.json`,
        inputSize: 224,
        normalisation: 'unit',
        featureOutput: node,
        license: 'MIT (nsfwjs)',
      }),
    );
    const [fromUrl, shipped] = await Promise.all([
      loadBackbone(id, { cacheDir }),
      loadBackbone(DEFAULT_BACKBONE_ID),
    ]);
    expect(fromUrl.execution).toBe('graph');
    expect(fromUrl.spec.featureDim).toBe(1792);
    const input = tf.randomUniform([1, 224, 224, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const [a, b] = [fromUrl.embed(input), shipped.embed(input)];
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);
    tf.dispose([input, a, b]);
    fromUrl.dispose();
    shipped.dispose();
  });

  it('a model trained on it records provenance and licence, and reloads (fresh process state) to identical predictions', async () => {
    const cacheDir = await tmp('wl-url-cache-');
    const images = [];
    for (let kind = 0; kind < 3; kind++)
      for (let i = 0; i < 6; i++) {
        const bytes = await syntheticPhoto(kind, i);
        images.push({
          id: `${kind}-${i}`,
          label: ['lynx', 'ours', 'renard'][kind]!,
          read: async () => bytes,
        });
      }
    const { model } = await trainFootprintModel({
      images,
      backboneId: layersParam(),
      backboneOptions: { cacheDir },
      calibrationFolds: 3,
      syntheticNegatives: 6,
      head: { epochs: 60 },
    });
    const modelDir = await tmp('wl-url-model-');
    await saveModel(model, modelDir);
    const probe = await Promise.all(images.filter((_, i) => i % 4 === 0).map((im) => im.read()));
    const before = await Promise.all(probe.map((bytes) => model.predict(bytes)));
    model.dispose();

    const manifest = JSON.parse(await readFile(path.join(modelDir, 'manifest.json'), 'utf8')) as {
      backbone: { id: string; featureDim: number; sources: unknown[] };
    };
    const id = urlBackboneId(parseUrlBackboneParam(layersParam()));
    expect(manifest.backbone.id).toBe(id);
    expect(manifest.backbone.featureDim).toBe(CHANNELS);
    expect(manifest.backbone.sources).toEqual([
      {
        id,
        license: 'CC0-1.0 (test weights)',
        origin: `tfjs model downloaded from ${base}/layers/model.json?tfjs-format=file`,
        sources: [
          {
            kind: 'url',
            url: `${base}/layers/model.json?tfjs-format=file`,
            descriptor: parseUrlBackboneParam(layersParam()),
            weightsSha256: await weightsDigest(layersDir),
          },
        ],
      },
    ]);

    // A serving instance knows nothing but the manifest: from the cache (no request)…
    forgetUrlBackbones();
    requests.length = 0;
    const reloaded = await loadFootprintModelFromDir(modelDir, { backbone: { cacheDir } });
    expect(requests).toEqual([]);
    const after = await Promise.all(probe.map((bytes) => reloaded.predict(bytes)));
    reloaded.dispose();
    // …or on a cold start with an empty cache (downloads again).
    forgetUrlBackbones();
    const cold = await loadFootprintModelFromDir(modelDir, {
      backbone: { cacheDir: await tmp('wl-url-cache-') },
    });
    expect(requests).toHaveLength(2);
    const afterCold = await Promise.all(probe.map((bytes) => cold.predict(bytes)));
    cold.dispose();
    for (const [i, p] of before.entries()) {
      expect(after[i]!.probabilities).toEqual(p.probabilities);
      expect(after[i]!.verdict).toBe(p.verdict);
      expect(afterCold[i]!.probabilities).toEqual(p.probabilities);
    }

    // Weights that are not the ones the model was trained with are refused.
    forgetUrlBackbones();
    const tampered = await tmp('wl-url-cache-');
    await cp(cacheDir, tampered, { recursive: true });
    const [cacheName] = await readdir(tampered);
    const shard = path.join(tampered, cacheName!, 'group1-shard1of1.bin');
    const bytes = await readFile(shard);
    bytes[0] = (bytes[0]! + 1) % 256;
    await writeFile(shard, bytes);
    await expect(
      loadFootprintModelFromDir(modelDir, { backbone: { cacheDir: tampered } }),
    ).rejects.toThrow(
      new RegExp(
        `have SHA-256 [0-9a-f]{64}, expected ${await weightsDigest(layersDir)} .*the copy in ${path.join(tampered, cacheName!)} is corrupt`,
      ),
    );
  });

  it('says clearly why a URL backbone cannot be had (unreachable, 404, not a model, missing shard, bad output)', async () => {
    const load = async (param: string) => {
      const cacheDir = await tmp('wl-url-cache-');
      const { id } = await resolveBackboneId(param);
      return { cacheDir, result: loadBackbone(id, { cacheDir }) };
    };
    const fragment = `#inputSize=${SIZE}&normalisation=unit&license=MIT`;

    // A port that was just closed refuses at once, like a host an offline machine cannot reach.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await load(`http://127.0.0.1:${closedPort}/model.json${fragment}`);
    const message = await refused.result.then(
      () => '',
      (error: Error) => error.message,
    );
    expect(message).toContain(
      `unavailable: download http://127.0.0.1:${closedPort}/model.json: fetch failed (ECONNREFUSED)`,
    );
    expect(message).toContain('could not fetch them (offline?)');
    expect(message).toContain(refused.cacheDir);

    await expect((await load(`${base}/nope/model.json${fragment}`)).result).rejects.toThrow(
      /HTTP 404/,
    );
    await expect((await load(`${base}/broken/model.json${fragment}`)).result).rejects.toThrow(
      /model\.json is not JSON/,
    );
    const partial = await load(`${base}/broken/model-partial.json${fragment}`);
    await expect(partial.result).rejects.toThrow(/missing-shard\.bin: HTTP 404/);
    // Nothing half-written counts as cached: the next attempt downloads again.
    const [cacheName] = await readdir(partial.cacheDir);
    expect(existsSync(path.join(partial.cacheDir, cacheName!, 'model.json'))).toBe(false);

    await expect((await load(layersParam('&featureOutput=no_such_layer'))).result).rejects.toThrow(
      /no_such_layer/,
    );
  });
});
