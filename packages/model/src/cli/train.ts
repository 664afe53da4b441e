import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileEmbeddingCache } from '../embedding-cache.js';
import { groupedHoldoutSplit } from '../evaluation.js';
import { readDataset } from '../dataset.js';
import { saveModel } from '../model-format.js';
import { trainFootprintModel } from '../training.js';
import type { TtaMode } from '../image-pipeline.js';
import { parseCli, pct, requireString, BACKBONE_USAGE } from './args.js';

const USAGE = `Usage: node dist/cli/train.js --dataset DIR --out MODEL_DIR [--backbone ID|auto|URL] [--holdout 0.2]
  [--augment N] [--tta center|flip|multi] [--l2 X] [--epochs N] [--seed N] [--cache DIR|none]
${BACKBONE_USAGE}`;

const flags = parseCli(USAGE, {
  dataset: { type: 'string' },
  out: { type: 'string' },
  backbone: { type: 'string' },
  holdout: { type: 'string' },
  augment: { type: 'string' },
  tta: { type: 'string' },
  l2: { type: 'string' },
  epochs: { type: 'string' },
  seed: { type: 'string' },
  cache: { type: 'string' },
});
const datasetDir = path.resolve(requireString(flags, 'dataset', USAGE));
const outDir = path.resolve(requireString(flags, 'out', USAGE));
const seed = Number(flags.seed ?? 1);
const dataset = await readDataset(datasetDir);
let images = dataset.images;
let holdoutIds: string[] | undefined;
if (typeof flags.holdout === 'string') {
  const split = groupedHoldoutSplit(images, Number(flags.holdout), seed);
  holdoutIds = split.holdout.map((i) => (images[i] as { id: string }).id);
  images = split.train.map((i) => images[i] as (typeof images)[number]);
  console.log(
    `holdout: training on ${images.length} images, ${holdoutIds.length} held out (grouped)`,
  );
}
const cacheFlag =
  typeof flags.cache === 'string'
    ? flags.cache
    : path.join(os.homedir(), '.cache', 'wildlens', 'embeddings');
let lastLine = '';
const { model, metrics } = await trainFootprintModel({
  images,
  labels: dataset.labels,
  backboneId: typeof flags.backbone === 'string' ? flags.backbone : undefined,
  augment: typeof flags.augment === 'string' ? Number(flags.augment) : undefined,
  tta: typeof flags.tta === 'string' ? (flags.tta as TtaMode) : undefined,
  head: {
    ...(typeof flags.l2 === 'string' ? { l2: Number(flags.l2) } : {}),
    ...(typeof flags.epochs === 'string' ? { epochs: Number(flags.epochs) } : {}),
  },
  seed,
  embeddingCache: cacheFlag === 'none' ? undefined : new FileEmbeddingCache(cacheFlag),
  trainingInfo: {
    dataset: path.basename(datasetDir),
    holdoutFraction: flags.holdout ? Number(flags.holdout) : null,
  },
  onProgress: (p) => {
    const line = `${p.phase}${p.total ? ` ${p.done}/${p.total}` : ''}${p.epoch !== undefined ? ` epoch ${p.epoch}/${p.epochs ?? '?'} loss ${p.loss?.toFixed(4)}` : ''}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line.padEnd(60)}`);
    else if (p.phase !== lastLine) console.error(p.phase);
    lastLine = p.phase;
  },
});
if (process.stderr.isTTY) process.stderr.write('\n');
if (holdoutIds) model.manifest.holdout = { dataset: path.basename(datasetDir), ids: holdoutIds };
await saveModel(model, outDir);
await writeFile(
  path.join(outDir, 'training-metrics.json'),
  `${JSON.stringify(metrics, null, 2)}\n`,
);
const cv = metrics.crossValidation;
console.log(
  `model written to ${outDir} (backbone ${model.manifest.backbone.id}, ${metrics.images} images)`,
);
console.log(`backbone choice: ${metrics.backbone.reason}`);
if (cv)
  console.log(
    `out-of-fold (${cv.folds} folds, grouped): top-1 ${pct(cv.top1)}, top-3 ${pct(cv.top3)}, macro-F1 ${pct(cv.macroF1)}, ECE ${cv.eceBeforeCalibration.toFixed(3)} → ${cv.ece.toFixed(3)} (T=${metrics.temperature.toFixed(2)})`,
  );
console.log(
  `identified threshold ${metrics.identified.threshold.toFixed(3)} (precision ${pct(metrics.identified.precision)}, coverage ${pct(metrics.identified.coverage)})`,
);
console.log(
  `not_a_footprint threshold ${metrics.notFootprint.threshold.toFixed(3)}: synthetic false-accept ${pct(metrics.notFootprint.syntheticFalseAcceptRate)} of ${metrics.notFootprint.syntheticCount}`,
);
console.log(
  `timings: embedding ${(metrics.timingsMs.embedding / 1000).toFixed(1)} s, CV ${(metrics.timingsMs.crossValidation / 1000).toFixed(1)} s, head ${(metrics.timingsMs.training / 1000).toFixed(1)} s, total ${(metrics.timingsMs.total / 1000).toFixed(1)} s`,
);
model.dispose();
