import os from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { describeBackend, getBackendInfo } from '../backend.js';
import { DEFAULT_BACKBONES_DIR } from '../backbones.js';
import { readDataset } from '../dataset.js';
import { loadFootprintModelFromDir, saveModel } from '../model-format.js';
import { REFERENCE_PASS, loadReferencePass } from '../reference-pass.js';
import { trainFootprintModel } from '../training.js';
import { BACKBONE_USAGE, DATASET_OPTION, parseCli } from './args.js';

const USAGE = `Usage: node dist/cli/bench.js [--model MODEL_DIR] [--backbone ID|auto|URL] [--dataset DIR…] [--images N] [--profile] [--json]
  Per-photo latency of predict, per dataset (domain), beside a reference measured in the same run:
  one plain ${REFERENCE_PASS.id} pass (${REFERENCE_PASS.origin}) on the same backend, run
  before each photo. Figures are also given as ratios to the reference's p50: they compare across
  machines and load, where milliseconds do not. Also times predict with a framed print (region:
  the middle 60 % of each photo), and throughput.
  --dataset DIR (repeatable): default footprints-dev and footprints-field-dev from ../shared when
    present, else generated noise photos. --images N: photos per dataset (default 24), spread over it.
  --profile: where the time goes: each stage's p50 (decode, views, each backbone pass, pooling,
    head) and, per stage, the backend kernels that take it (tf.profile over the same photos).
  Without --model, a small model is trained first on the bench images with --backbone (default: auto,
  the backbone \`npm run train\` would pick); its accuracy is irrelevant here.
  The backend is the one the model runs on here (tfjs-node where it loads, else wasm);
  WILDLENS_DISABLE_TFJS_NODE=1 benchmarks wasm on a machine that has tfjs-node.
${BACKBONE_USAGE}`;

const flags = parseCli(USAGE, {
  model: { type: 'string' },
  backbone: { type: 'string' },
  ...DATASET_OPTION,
  images: { type: 'string' },
  profile: { type: 'boolean' },
  json: { type: 'boolean' },
});
let peakRss = process.memoryUsage().rss;
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
const count = Number(flags.images ?? 24);
const BENCH_REGION = { x: 0.2, y: 0.2, width: 0.6, height: 0.6 };
const loadAverageAtStart = os.loadavg();

interface BenchSet {
  name: string;
  domain: string;
  images: Buffer[];
}

async function datasetSet(dir: string): Promise<BenchSet> {
  const dataset = await readDataset(path.resolve(dir));
  const step = Math.max(1, Math.floor(dataset.images.length / count));
  const images = await Promise.all(
    dataset.images
      .filter((_, i) => i % step === 0)
      .slice(0, count)
      .map((i) => i.read()),
  );
  return { name: path.basename(path.resolve(dir)), domain: dataset.domain, images };
}

async function noiseSet(): Promise<BenchSet> {
  const images = await Promise.all(
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
  return { name: 'generated noise', domain: 'none', images };
}

const sharedDatasets = DEFAULT_BACKBONES_DIR
  ? ['footprints-dev', 'footprints-field-dev'].map((name) =>
      path.join(path.dirname(DEFAULT_BACKBONES_DIR), 'datasets', name),
    )
  : [];
const given = Array.isArray(flags.dataset) ? flags.dataset.flatMap((d) => d.split(',')) : [];
const datasetDirsToBench = given.length ? given : sharedDatasets.filter((d) => existsSync(d));
const sets = datasetDirsToBench.length
  ? await Promise.all(datasetDirsToBench.map(datasetSet))
  : [await noiseSet()];
const allImages = sets.flatMap((s) => s.images);

let modelDir = typeof flags.model === 'string' ? path.resolve(flags.model) : '';
if (!modelDir) {
  modelDir = path.join(os.tmpdir(), `wildlens-bench-model-${process.pid}`);
  const { model } = await trainFootprintModel({
    images: allImages.map((image, i) => ({
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

// Cold load: backbone(s), head and warm-up with the backend already initialised (a fresh process
// also pays module imports and backend init, ~0.3–1.5 s).
const reference = await loadReferencePass();
const tLoad = performance.now();
const model = await loadFootprintModelFromDir(modelDir);
const coldLoadMs = performance.now() - tLoad;
const backend = getBackendInfo();
if (!backend) throw new Error('no backend initialised');

const quantile = (values: number[], q: number) => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
};
const p50p95 = (values: number[]) => ({ p50: quantile(values, 0.5), p95: quantile(values, 0.95) });

// Interleaved: the reference runs right before each photo, so both see the same machine load.
const referenceMs: number[] = [];
const stageMs = new Map<string, number[]>();
const bySet = [];
for (const set of sets) {
  const pre: number[] = [];
  const inf: number[] = [];
  const total: number[] = [];
  for (const image of set.images) {
    referenceMs.push(reference.time());
    const t = performance.now();
    const p = await model.predict(image, {
      onStage: (stage, ms) => stageMs.set(stage, [...(stageMs.get(stage) ?? []), ms]),
    });
    total.push(performance.now() - t);
    pre.push(p.timingsMs.preprocess);
    inf.push(p.timingsMs.inference);
  }
  bySet.push({ set, pre, inf, total });
}
const referenceP50 = quantile(referenceMs, 0.5);
const ratioOf = (ms: { p50: number; p95: number }) => ({
  p50: ms.p50 / referenceP50,
  p95: ms.p95 / referenceP50,
});

// The framed print (refineObservation with a region): the region is cut, then classified.
const framedTotal: number[] = [];
for (const image of allImages) {
  const t = performance.now();
  await model.predict(image, { region: BENCH_REGION });
  framedTotal.push(performance.now() - t);
}
let t = performance.now();
for (const image of allImages) await model.predict(image);
const throughput1 = allImages.length / ((performance.now() - t) / 1000);
t = performance.now();
for (let i = 0; i < allImages.length; i += 8) await model.predictBatch(allImages.slice(i, i + 8));
const throughput8 = allImages.length / ((performance.now() - t) / 1000);
t = performance.now();
await Promise.all(allImages.map((image) => model.predict(image)));
const throughputConcurrent = allImages.length / ((performance.now() - t) / 1000);

/**
 * Kernels per stage: tf.profile over predict, each kernel given to the stage that was running
 * when it ran (stages end in order, so a kernel belongs to the first stage that ends after it).
 */
async function profileKernels(images: Buffer[]) {
  const byStage = new Map<string, Map<string, { count: number; ms: number }>>();
  for (const image of images) {
    const ends: { stage: string; kernels: number }[] = [];
    const kernelsSoFar = () => tf.engine().state.activeProfile.kernels.length;
    const profile = await tf.profile(async () => {
      await model.predict(image, {
        onStage: (stage) => ends.push({ stage, kernels: kernelsSoFar() }),
      });
      return [];
    });
    let from = 0;
    for (const { stage, kernels } of ends) {
      const ops = byStage.get(stage) ?? new Map<string, { count: number; ms: number }>();
      byStage.set(stage, ops);
      // tf.profile lists an op's wrapper (`name__op`) and its kernel: count the kernel only.
      for (const kernel of profile.kernels.slice(from, kernels)) {
        if (kernel.name.endsWith('__op')) continue;
        const entry = ops.get(kernel.name) ?? { count: 0, ms: 0 };
        entry.count += 1 / images.length;
        entry.ms +=
          (typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0) / images.length;
        ops.set(kernel.name, entry);
      }
      from = kernels;
    }
  }
  return Object.fromEntries(
    [...byStage].map(([stage, ops]) => [
      stage,
      Object.fromEntries([...ops].sort((a, b) => b[1].ms - a[1].ms)),
    ]),
  );
}
const kernelsByStage = flags.profile ? await profileKernels(allImages.slice(0, 8)) : null;

clearInterval(rssTimer);
peakRss = Math.max(peakRss, process.memoryUsage().rss);
const overallTotal = p50p95(bySet.flatMap((s) => s.total));
const result = {
  backend,
  backendDescription: describeBackend(backend),
  backbone: model.manifest.backbone.id,
  features: model.manifest.features ?? null,
  images: allImages.length,
  loadAverage: { atStart: loadAverageAtStart, atEnd: os.loadavg(), cores: os.cpus().length },
  reference: { id: REFERENCE_PASS.id, origin: REFERENCE_PASS.origin, ms: p50p95(referenceMs) },
  coldLoadMs,
  /** The first photo after load (memory growth and first-use costs land here unless warmed up). */
  firstPredictMs: bySet[0]?.total[0] ?? 0,
  preprocessMs: p50p95(bySet.flatMap((s) => s.pre)),
  inferenceMs: p50p95(bySet.flatMap((s) => s.inf)),
  totalMs: overallTotal,
  /** Per-photo total divided by the reference pass's p50 (both measured interleaved in this run). */
  totalRatio: ratioOf(overallTotal),
  byDataset: bySet.map(({ set, pre, inf, total }) => ({
    dataset: set.name,
    domain: set.domain,
    images: set.images.length,
    preprocessMs: p50p95(pre),
    inferenceMs: p50p95(inf),
    totalMs: p50p95(total),
    totalRatio: ratioOf(p50p95(total)),
  })),
  stagesMs: Object.fromEntries([...stageMs].map(([stage, ms]) => [stage, p50p95(ms)])),
  regionTotalMs: p50p95(framedTotal),
  throughputPerSec: { batch1: throughput1, batch8: throughput8, concurrent: throughputConcurrent },
  peakRssMb: peakRss / 1024 / 1024,
  ...(kernelsByStage ? { kernelsByStage } : {}),
};
model.dispose();
reference.dispose();
// The throwaway model trained above is not worth keeping.
if (typeof flags.model !== 'string') await rm(modelDir, { recursive: true, force: true });

if (!flags.json) {
  const f = (v: number) => v.toFixed(1);
  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(' / ');
  console.log(`backend ${result.backendDescription}`);
  console.log(`backbone ${result.backbone}, features ${JSON.stringify(result.features)}`);
  console.log(
    `load average (1/5/15 min) at start ${load(result.loadAverage.atStart)}, at end ${load(result.loadAverage.atEnd)}, ${result.loadAverage.cores} cores`,
  );
  console.log(
    `reference ${REFERENCE_PASS.id} pass: p50 ${f(result.reference.ms.p50)} / p95 ${f(result.reference.ms.p95)} ms`,
  );
  console.log(
    `cold load ${coldLoadMs.toFixed(0)} ms, then first photo ${result.firstPredictMs.toFixed(0)} ms`,
  );
  for (const s of result.byDataset)
    console.log(
      `${s.dataset} (${s.domain}, ${s.images} photos): total p50 ${f(s.totalMs.p50)} / p95 ${f(s.totalMs.p95)} ms = ${s.totalRatio.p50.toFixed(2)}× / ${s.totalRatio.p95.toFixed(2)}× the reference; preprocess p50 ${f(s.preprocessMs.p50)} ms, inference p50 ${f(s.inferenceMs.p50)} ms`,
    );
  console.log(
    `all photos: total p50 ${f(result.totalMs.p50)} / p95 ${f(result.totalMs.p95)} ms = ${result.totalRatio.p50.toFixed(2)}× / ${result.totalRatio.p95.toFixed(2)}× the reference`,
  );
  console.log(
    `with a region: total p50 ${f(result.regionTotalMs.p50)} / p95 ${f(result.regionTotalMs.p95)} ms`,
  );
  console.log(
    `throughput: batch 1 ${throughput1.toFixed(1)}/s, batch 8 ${throughput8.toFixed(1)}/s, concurrent ${throughputConcurrent.toFixed(1)}/s; peak RSS ${result.peakRssMb.toFixed(0)} MB`,
  );
  console.log('stages (p50 / p95 ms):');
  for (const [stage, ms] of Object.entries(result.stagesMs))
    console.log(`  ${stage.padEnd(48)} ${f(ms.p50).padStart(7)} / ${f(ms.p95)}`);
  if (kernelsByStage) {
    console.log('kernels per stage (mean per photo over 8 photos, tf.profile: ms, count):');
    for (const [stage, ops] of Object.entries(kernelsByStage)) {
      const listed = Object.entries(ops)
        .slice(0, 6)
        .map(([name, k]) => `${name} ${f(k.ms)} ms ×${Math.round(k.count)}`);
      if (listed.length) console.log(`  ${stage}: ${listed.join(', ')}`);
    }
  }
}
console.log(JSON.stringify(result));
