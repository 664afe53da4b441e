import os from 'node:os';
import path from 'node:path';
import { loadBackbone, resolveBackboneId } from '../backbones.js';
import { calibrate } from '../calibration.js';
import { DEFAULT_HEAD_OPTIONS } from '../classifier.js';
import { readDatasets } from '../dataset.js';
import { FileBasesCache, FileEmbeddingCache } from '../embedding-cache.js';
import { crossFittedDialogue, jitteredFrame } from '../dialogue-evaluation.js';
import { DEFAULT_FEATURE_RECIPE, type FeatureRecipe } from '../features.js';
import {
  DEFAULT_HEAD_RECIPE,
  REGION_VIEW,
  calibrationSamples,
  crossValidateEmbeddings,
  crossValidationReport,
  embedImages,
  PHOTO_VIEW,
  prepareFeaturizer,
  reportOf,
} from '../training.js';
import {
  BACKBONE_USAGE,
  DATASET_OPTION,
  DATASET_USAGE,
  datasetDirs,
  jsonFigures,
  parseCli,
  pct,
  printConfusion,
  printDialogueTables,
  printDomainTable,
} from './args.js';

const USAGE = `Usage: node dist/cli/cv.js --dataset DIR [--dataset DIR…] [--folds 5] [--seed N] [--json]
  [--backbone ID|auto|URL] [--features JSON] [--l2 X] [--epochs N] [--lr X] [--no-balance]
  [--no-domain-balance] [--no-mirror] [--cache DIR|none] [--simulate-hiker [--conformal-score lac|aps]]
  Grouped stratified K-fold cross-validation of the training recipe. Verdict figures (identified
  precision and coverage, false rejects) are cross-fitted: each fold's photos are judged with a
  temperature and thresholds calibrated on the other folds only.
  --no-mirror: train on the photos only, without their mirror images as extra rows.
  --simulate-hiker: also run the dialogue on each held-out photo, answered by simulated hikers
    (nominal and harsh noise, drawn with --seed) with dialogue parameters fitted on the other
    folds: figures per domain after 0 to 3 answers, without and with the place, for a framed
    print (crops, a jittered frame) and for two photos of one trail (crops of one source photo).
    --conformal-score: the candidate sets' score (default lac; aps for comparison).
  --features: a feature recipe as JSON (default ${JSON.stringify(DEFAULT_FEATURE_RECIPE)}).
${DATASET_USAGE}
${BACKBONE_USAGE}`;

const flags = parseCli(USAGE, {
  ...DATASET_OPTION,
  folds: { type: 'string' },
  backbone: { type: 'string' },
  features: { type: 'string' },
  json: { type: 'boolean' },
  l2: { type: 'string' },
  epochs: { type: 'string' },
  lr: { type: 'string' },
  'no-balance': { type: 'boolean' },
  'no-domain-balance': { type: 'boolean' },
  'no-mirror': { type: 'boolean' },
  seed: { type: 'string' },
  cache: { type: 'string' },
  'simulate-hiker': { type: 'boolean' },
  'conformal-score': { type: 'string' },
});
const dataset = await readDatasets(datasetDirs(flags, USAGE));
const backboneChoice = await resolveBackboneId(
  typeof flags.backbone === 'string' ? flags.backbone : undefined,
);
const folds = Number(flags.folds ?? 5);
const seed = Number(flags.seed ?? 1);
const features =
  typeof flags.features === 'string'
    ? (JSON.parse(flags.features) as FeatureRecipe)
    : DEFAULT_FEATURE_RECIPE;
const cacheFlag =
  typeof flags.cache === 'string'
    ? flags.cache
    : path.join(os.homedir(), '.cache', 'wildlens', 'embeddings');
const t0 = performance.now();
const backbone = await loadBackbone(backboneChoice.id);
// The PCA bases of the bilinear pooling are fitted once on a sample of all photos (no labels are
// used; the folds then only differ by the head): see packages/model/README.md for what fitting
// them per fold changes.
const featurizer = await prepareFeaturizer(dataset.images, backbone, {
  features,
  ...(cacheFlag === 'none' ? {} : { basesCache: new FileBasesCache(cacheFlag) }),
});
const t1 = performance.now();
const simulateHiker = Boolean(flags['simulate-hiker']);
const embedded = await embedImages(dataset.images, featurizer, {
  cache: cacheFlag === 'none' ? undefined : new FileEmbeddingCache(cacheFlag),
  // The framed print of each crop, as a hiker would draw it (field photos have no frame).
  ...(simulateHiker
    ? { frames: (image) => (image.domain === 'crop' ? jitteredFrame(image.id, seed) : undefined) }
    : {}),
  onProgress: (p) => {
    if (!flags.json && process.stderr.isTTY)
      process.stderr.write(`\rembedding ${p.done}/${p.total}`.padEnd(30));
  },
});
if (!flags.json && process.stderr.isTTY) process.stderr.write('\n');
backbone.dispose();
const t2 = performance.now();
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
  {
    ...DEFAULT_HEAD_RECIPE,
    head,
    balanceDomains: !flags['no-domain-balance'],
    ...(flags['no-mirror'] ? { trainViews: [PHOTO_VIEW] } : {}),
  },
  folds,
  seed,
  undefined,
  simulateHiker ? { scoreViews: [REGION_VIEW] } : {},
);
const report = crossValidationReport(cv);
const conformalScore = flags['conformal-score'];
if (conformalScore !== undefined && conformalScore !== 'lac' && conformalScore !== 'aps') {
  console.error(`--conformal-score must be lac or aps\n\n${USAGE}`);
  process.exit(2);
}
const dialogue = simulateHiker
  ? crossFittedDialogue(cv, {
      seed,
      ...(conformalScore ? { fit: { score: conformalScore } } : {}),
    })
  : undefined;
const before = reportOf(cv);
const { temperature } = calibrate(calibrationSamples(cv));
const t3 = performance.now();
if (!flags.json) {
  console.log(
    `${backbone.spec.id}, ${folds}-fold grouped CV, ${report.n} images, features ${featurizer.key}, l2 ${head.l2}, epochs ${head.epochs}`,
  );
  console.log(`backbone choice: ${backboneChoice.reason}`);
  printDomainTable(report);
  console.log(`ECE before calibration ${before.ece.toFixed(3)} (T=${temperature.toFixed(2)})`);
  for (const [label, recall] of Object.entries(report.perSpeciesRecall))
    console.log(`  ${label.padEnd(13)} ${pct(recall)}`);
  printConfusion(report.labels, report.confusion);
  if (dialogue) printDialogueTables(dialogue);
  console.log(
    `bases ${((t1 - t0) / 1000).toFixed(1)} s, embedding ${((t2 - t1) / 1000).toFixed(1)} s, CV ${((t3 - t2) / 1000).toFixed(1)} s`,
  );
}
console.log(
  JSON.stringify({
    backbone: backbone.spec.id,
    backboneChoice: backboneChoice.reason,
    features: featurizer.key,
    datasets: dataset.parts.map((p) => ({ root: p.root, domain: p.domain, n: p.images.length })),
    folds,
    seed,
    l2: head.l2,
    epochs: head.epochs,
    ...jsonFigures(report),
    eceBeforeCalibration: before.ece,
    temperature,
    verdicts: report.verdicts,
    byDomain: Object.fromEntries(
      Object.entries(report.byDomain).map(([d, r]) => [d, jsonFigures(r)]),
    ),
    ...(dialogue ? { dialogue } : {}),
    basesMs: t1 - t0,
    embeddingMs: t2 - t1,
    cvMs: t3 - t2,
  }),
);
