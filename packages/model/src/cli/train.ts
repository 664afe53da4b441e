import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileBasesCache, FileEmbeddingCache } from '../embedding-cache.js';
import { groupedHoldoutSplit } from '../evaluation.js';
import { readDatasets } from '../dataset.js';
import type { FeatureRecipe } from '../features.js';
import { saveModel } from '../model-format.js';
import { trainFootprintModel } from '../training.js';
import {
  BACKBONE_USAGE,
  DATASET_OPTION,
  DATASET_USAGE,
  datasetDirs,
  parseCli,
  pct,
  printDomainTable,
  requireString,
} from './args.js';

const USAGE = `Usage: node dist/cli/train.js --dataset DIR [--dataset DIR…] --out MODEL_DIR [--holdout 0.2]
  [--backbone ID|auto|URL] [--features JSON] [--l2 X] [--epochs N] [--seed N] [--cache DIR|none]
  [--no-domain-balance]
  --holdout F: train on a grouped stratified (1−F) part and record the held-out ids in the model
  (\`eval\` then scores only them).
${DATASET_USAGE}
${BACKBONE_USAGE}`;

const flags = parseCli(USAGE, {
  ...DATASET_OPTION,
  out: { type: 'string' },
  backbone: { type: 'string' },
  features: { type: 'string' },
  holdout: { type: 'string' },
  l2: { type: 'string' },
  epochs: { type: 'string' },
  seed: { type: 'string' },
  cache: { type: 'string' },
  'no-domain-balance': { type: 'boolean' },
});
const dirs = datasetDirs(flags, USAGE);
const outDir = path.resolve(requireString(flags, 'out', USAGE));
const seed = Number(flags.seed ?? 1);
const dataset = await readDatasets(dirs);
const datasetName = dataset.parts.map((p) => path.basename(p.root)).join('+');
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
  ...(typeof flags.features === 'string'
    ? { features: JSON.parse(flags.features) as FeatureRecipe }
    : {}),
  balanceDomains: !flags['no-domain-balance'],
  head: {
    ...(typeof flags.l2 === 'string' ? { l2: Number(flags.l2) } : {}),
    ...(typeof flags.epochs === 'string' ? { epochs: Number(flags.epochs) } : {}),
  },
  seed,
  ...(cacheFlag === 'none'
    ? {}
    : {
        embeddingCache: new FileEmbeddingCache(cacheFlag),
        basesCache: new FileBasesCache(cacheFlag),
      }),
  trainingInfo: {
    dataset: datasetName,
    datasets: dataset.parts.map((p) => ({ name: path.basename(p.root), domain: p.domain })),
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
if (holdoutIds) model.manifest.holdout = { dataset: datasetName, ids: holdoutIds };
await saveModel(model, outDir);
await writeFile(
  path.join(outDir, 'training-metrics.json'),
  `${JSON.stringify(metrics, null, 2)}\n`,
);
const cv = metrics.crossValidation;
console.log(
  `model written to ${outDir} (backbone ${model.manifest.backbone.id}, ${metrics.images} images: ${Object.entries(
    metrics.imagesByDomain,
  )
    .map(([d, n]) => `${n} ${d}`)
    .join(', ')})`,
);
console.log(`backbone choice: ${metrics.backbone.reason}`);
console.log(`features: ${metrics.featurizer}`);
if (cv) {
  console.log(
    `out-of-fold (${cv.folds} folds, grouped; verdicts cross-fitted), ECE before calibration ${cv.eceBeforeCalibration.toFixed(3)}, T=${metrics.temperature.toFixed(2)}:`,
  );
  printDomainTable(cv);
}
console.log(
  `identified threshold ${metrics.identified.threshold.toFixed(3)} (held-out precision ${pct(metrics.identified.precision)}, coverage ${pct(metrics.identified.coverage)}; per domain ${Object.entries(
    metrics.identified.byDomain,
  )
    .map(([d, r]) => `${d} ${pct(r.precision)} on ${pct(r.coverage)}`)
    .join(', ')})`,
);
console.log(
  `not_a_footprint threshold ${metrics.notFootprint.threshold.toFixed(3)}: false rejects ${Object.entries(
    metrics.notFootprint.byDomain,
  )
    .map(([d, r]) => `${d} ${pct(r.falseRejectRate)}`)
    .join(
      ', ',
    )}; synthetic false-accept ${pct(metrics.notFootprint.syntheticFalseAcceptRate)} of ${metrics.notFootprint.syntheticCount}`,
);
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
console.log(
  `timings: bases ${s(metrics.timingsMs.fitting)}, embedding ${s(metrics.timingsMs.embedding)}, CV ${s(metrics.timingsMs.crossValidation)}, head ${s(metrics.timingsMs.training)}, total ${s(metrics.timingsMs.total)}`,
);
model.dispose();
