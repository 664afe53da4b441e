import path from 'node:path';
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { getBackendInfo } from '../backend.js';
import { DEFAULT_BACKBONES_DIR } from '../backbones.js';
import { readDataset } from '../dataset.js';
import { loadFootprintModelFromDir } from '../model-format.js';
import { trainFootprintModel } from '../training.js';
import { saveModel } from '../model-format.js';
import { parseCli, BACKBONE_USAGE } from './args.js';

const USAGE = `Usage: node dist/cli/bench.js [--model MODEL_DIR] [--backbone ID|auto|URL] [--dataset DIR] [--images N] [--json]
  Also times predict with a framed print (region: the middle 60 % of each photo).
  Without --model, a small model is trained first on the bench images with --backbone (default: auto,
  the backbone \`npm run train\` would pick); its accuracy is irrelevant here.
${BACKBONE_USAGE}`;

const flags = parseCli(USAGE, {
  model: { type: 'string' },
  backbone: { type: 'string' },
  dataset: { type: 'string' },
  images: { type: 'string' },
  json: { type: 'boolean' },
});
let peakRss = process.memoryUsage().rss;
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
const count = Number(flags.images ?? 24);
const BENCH_REGION = { x: 0.2, y: 0.2, width: 0.6, height: 0.6 };

const defaultDataset = DEFAULT_BACKBONES_DIR
  ? path.join(path.dirname(DEFAULT_BACKBONES_DIR), 'datasets', 'footprints-dev')
  : '';
const datasetDir =
  typeof flags.dataset === 'string'
    ? flags.dataset
    : existsSync(defaultDataset)
      ? defaultDataset
      : '';
let images: Buffer[];
if (datasetDir) {
  const dataset = await readDataset(path.resolve(datasetDir));
  const step = Math.max(1, Math.floor(dataset.images.length / count));
  images = await Promise.all(
    dataset.images
      .filter((_, i) => i % step === 0)
      .slice(0, count)
      .map((i) => i.read()),
  );
} else {
  images = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      sharp({
        create: {
          width: 1024,
          height: 768,
          channels: 3,
          background: { r: 90 + i * 5, g: 70, b: 50 },
          noise: { type: 'gaussian', mean: 100, sigma: 40 },
        },
      })
        .jpeg()
        .toBuffer(),
    ),
  );
}

let modelDir = typeof flags.model === 'string' ? path.resolve(flags.model) : '';
if (!modelDir) {
  modelDir = path.join((await import('node:os')).tmpdir(), `wildlens-bench-model-${process.pid}`);
  const { model } = await trainFootprintModel({
    images: images.map((image, i) => ({
      id: String(i),
      label: `s${i % 3}`,
      read: async () => image,
    })),
    backboneId: typeof flags.backbone === 'string' ? flags.backbone : undefined,
    calibrationFolds: 0,
    syntheticNegatives: 0,
  });
  await saveModel(model, modelDir);
  model.dispose();
}

// Cold load: a fresh process would also pay module import + wasm init (~0.3 s); measured separately by `node --cpu-prof` if needed.
const tLoad = performance.now();
const model = await loadFootprintModelFromDir(modelDir);
const coldLoadMs = performance.now() - tLoad;

const pre: number[] = [];
const inf: number[] = [];
const total: number[] = [];
for (const image of images) {
  const t = performance.now();
  const p = await model.predict(image);
  total.push(performance.now() - t);
  pre.push(p.timingsMs.preprocess);
  inf.push(p.timingsMs.inference);
}
// The framed print (refineObservation with a region): the region is cut, then classified.
const framedTotal: number[] = [];
for (const image of images) {
  const t = performance.now();
  await model.predict(image, { region: BENCH_REGION });
  framedTotal.push(performance.now() - t);
}
const quantile = (values: number[], q: number) => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
};
let t = performance.now();
for (const image of images) await model.predict(image);
const throughput1 = images.length / ((performance.now() - t) / 1000);
t = performance.now();
for (let i = 0; i < images.length; i += 8) await model.predictBatch(images.slice(i, i + 8));
const throughput8 = images.length / ((performance.now() - t) / 1000);
t = performance.now();
await Promise.all(images.map((image) => model.predict(image)));
const throughputConcurrent = images.length / ((performance.now() - t) / 1000);
clearInterval(rssTimer);
peakRss = Math.max(peakRss, process.memoryUsage().rss);
const result = {
  backend: getBackendInfo(),
  backbone: model.manifest.backbone.id,
  features: model.manifest.features ?? null,
  images: images.length,
  coldLoadMs,
  preprocessMs: { p50: quantile(pre, 0.5), p95: quantile(pre, 0.95) },
  inferenceMs: { p50: quantile(inf, 0.5), p95: quantile(inf, 0.95) },
  totalMs: { p50: quantile(total, 0.5), p95: quantile(total, 0.95) },
  regionTotalMs: { p50: quantile(framedTotal, 0.5), p95: quantile(framedTotal, 0.95) },
  throughputPerSec: { batch1: throughput1, batch8: throughput8, concurrent: throughputConcurrent },
  peakRssMb: peakRss / 1024 / 1024,
};
model.dispose();
if (!flags.json) {
  console.log(
    `backend ${JSON.stringify(result.backend)}, backbone ${result.backbone}, features ${JSON.stringify(result.features)}`,
  );
  console.log(`cold load ${coldLoadMs.toFixed(0)} ms`);
  console.log(
    `per image: preprocess p50 ${result.preprocessMs.p50.toFixed(1)} / p95 ${result.preprocessMs.p95.toFixed(1)} ms, inference p50 ${result.inferenceMs.p50.toFixed(1)} / p95 ${result.inferenceMs.p95.toFixed(1)} ms, total p50 ${result.totalMs.p50.toFixed(1)} / p95 ${result.totalMs.p95.toFixed(1)} ms`,
  );
  console.log(
    `with a region: total p50 ${result.regionTotalMs.p50.toFixed(1)} / p95 ${result.regionTotalMs.p95.toFixed(1)} ms`,
  );
  console.log(
    `throughput: batch 1 ${throughput1.toFixed(1)}/s, batch 8 ${throughput8.toFixed(1)}/s, concurrent ${throughputConcurrent.toFixed(1)}/s; peak RSS ${result.peakRssMb.toFixed(0)} MB`,
  );
}
console.log(JSON.stringify(result));
