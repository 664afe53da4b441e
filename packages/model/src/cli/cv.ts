import os from 'node:os';
import path from 'node:path';
import { loadBackbone, resolveBackboneId } from '../backbones.js';
import { DEFAULT_HEAD_OPTIONS } from '../classifier.js';
import { fitTemperature } from '../calibration.js';
import { readDataset } from '../dataset.js';
import { FileEmbeddingCache } from '../embedding-cache.js';
import type { TtaMode } from '../image-pipeline.js';
import {
  crossValidateEmbeddings,
  DEFAULT_AUGMENT_COUNT,
  DEFAULT_TTA,
  embedImages,
  reportOf,
  trainingVariants,
} from '../training.js';
import { parseCli, pct, printConfusion, requireString, BACKBONE_USAGE } from './args.js';

const USAGE = `Usage: node dist/cli/cv.js --dataset DIR [--folds 5] [--backbone ID|auto|URL] [--json]
  [--augment N] [--tta center|flip|multi] [--l2 X] [--epochs N] [--lr X] [--no-balance] [--seed N] [--cache DIR|none]
${BACKBONE_USAGE}`;

const flags = parseCli(USAGE, {
  dataset: { type: 'string' },
  folds: { type: 'string' },
  backbone: { type: 'string' },
  json: { type: 'boolean' },
  augment: { type: 'string' },
  tta: { type: 'string' },
  l2: { type: 'string' },
  epochs: { type: 'string' },
  lr: { type: 'string' },
  'no-balance': { type: 'boolean' },
  seed: { type: 'string' },
  cache: { type: 'string' },
});
const dataset = await readDataset(path.resolve(requireString(flags, 'dataset', USAGE)));
const backboneChoice = await resolveBackboneId(
  typeof flags.backbone === 'string' ? flags.backbone : undefined,
);
const backboneId = backboneChoice.id;
const folds = Number(flags.folds ?? 5);
const seed = Number(flags.seed ?? 1);
const augment = Number(flags.augment ?? DEFAULT_AUGMENT_COUNT);
const tta = (flags.tta ?? DEFAULT_TTA) as TtaMode;
const cacheFlag =
  typeof flags.cache === 'string'
    ? flags.cache
    : path.join(os.homedir(), '.cache', 'wildlens', 'embeddings');
const t0 = performance.now();
const backbone = await loadBackbone(backboneId);
const trainVariants = trainingVariants(augment, tta);
const embedded = await embedImages(dataset.images, backbone, trainVariants, {
  cache: cacheFlag === 'none' ? undefined : new FileEmbeddingCache(cacheFlag),
});
backbone.dispose();
const t1 = performance.now();
const head = {
  ...DEFAULT_HEAD_OPTIONS,
  seed,
  balanceClasses: !flags['no-balance'],
  ...(typeof flags.l2 === 'string' ? { l2: Number(flags.l2) } : {}),
  ...(typeof flags.epochs === 'string' ? { epochs: Number(flags.epochs) } : {}),
  ...(typeof flags.lr === 'string' ? { learningRate: Number(flags.lr) } : {}),
};
const cv = crossValidateEmbeddings(
  embedded,
  dataset.labels,
  { trainVariants, tta, head },
  folds,
  seed,
);
const before = reportOf(cv);
const temperature = fitTemperature(cv.logits, cv.truth);
const report = reportOf(cv, temperature);
const t2 = performance.now();
if (!flags.json) {
  console.log(
    `${backboneId}, ${folds}-fold grouped CV, ${report.n} images, augment ${augment}, tta ${tta}, l2 ${head.l2}, epochs ${head.epochs}`,
  );
  console.log(`backbone choice: ${backboneChoice.reason}`);
  console.log(
    `top-1 ${pct(report.top1)}, top-3 ${pct(report.top3)}, macro-F1 ${pct(report.macroF1)}, ECE ${before.ece.toFixed(3)} → ${report.ece.toFixed(3)} (T=${temperature.toFixed(2)})`,
  );
  for (const [label, recall] of Object.entries(report.perSpeciesRecall))
    console.log(`  ${label.padEnd(13)} ${pct(recall)}`);
  printConfusion(report.labels, report.confusion);
  console.log(
    `embedding ${((t1 - t0) / 1000).toFixed(1)} s, CV ${((t2 - t1) / 1000).toFixed(1)} s`,
  );
}
console.log(
  JSON.stringify({
    backbone: backboneId,
    backboneChoice: backboneChoice.reason,
    folds,
    augment,
    tta,
    l2: head.l2,
    epochs: head.epochs,
    top1: report.top1,
    top3: report.top3,
    macroF1: report.macroF1,
    n: report.n,
    ece: report.ece,
    eceBeforeCalibration: before.ece,
    temperature,
    perSpeciesRecall: report.perSpeciesRecall,
    embeddingMs: t1 - t0,
    cvMs: t2 - t1,
  }),
);
