import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { generateSyntheticNegatives } from '../synthetic-negatives.js';
import { readDatasets } from '../dataset.js';
import { evaluateByDomain, type ScoredSample } from '../evaluation.js';
import { loadFootprintModelFromDir } from '../model-format.js';
import {
  DATASET_OPTION,
  DATASET_USAGE,
  datasetDirs,
  jsonFigures,
  parseCli,
  pct,
  printConfusion,
  printDomainTable,
  requireString,
} from './args.js';

const USAGE = `Usage: node dist/cli/eval.js --model MODEL_DIR --dataset DIR [--dataset DIR…] [--json] [--all] [--negatives DIR…]
  Uses only the model's recorded held-out images of the datasets unless --all.
  --negatives DIR (repeatable): images that are not footprints (any files); reports how many pass
  the not_a_footprint gate (false accepts), plus the same for generated synthetic negatives.
${DATASET_USAGE}`;

const flags = parseCli(USAGE, {
  ...DATASET_OPTION,
  model: { type: 'string' },
  json: { type: 'boolean' },
  all: { type: 'boolean' },
  negatives: { type: 'string', multiple: true },
});
const modelDir = path.resolve(requireString(flags, 'model', USAGE));
const dataset = await readDatasets(datasetDirs(flags, USAGE));
const model = await loadFootprintModelFromDir(modelDir);
const { labels, holdout } = model.manifest;
let images = dataset.images;
if (holdout && !flags.all) {
  const ids = new Set(holdout.ids);
  images = images.filter((i) => ids.has(i.id));
  if (!flags.json)
    console.log(
      `evaluating on the ${images.length} held-out images recorded in the model (--all for every image)`,
    );
  if (!images.length)
    console.warn(
      'none of the recorded held-out images is in these datasets (give the same --dataset list as for training, or --all)',
    );
}
const unknown = [...new Set(images.map((i) => i.label))].filter((l) => !labels.includes(l));
if (unknown.length) console.warn(`labels unknown to the model are ignored: ${unknown.join(', ')}`);
images = images.filter((i) => labels.includes(i.label));
const samples: ScoredSample[] = [];
for (const image of images) {
  const prediction = await model.predict(await image.read());
  samples.push({
    probabilities: Float32Array.from(labels.map((l) => prediction.probabilities[l] ?? 0)),
    truth: labels.indexOf(image.label),
    verdict: prediction.verdict,
    domain: image.domain,
  });
}
const report = evaluateByDomain(samples, labels);
const notFootprint: Record<string, { n: number; falseAccepts: number; rate: number }> = {};
const negativeSets: [string, Buffer[]][] = [
  ['synthetic', (await generateSyntheticNegatives(60, 11)).map((n) => n.image)],
];
const negativeDirs = Array.isArray(flags.negatives)
  ? flags.negatives
  : typeof flags.negatives === 'string'
    ? [flags.negatives]
    : [];
for (const given of negativeDirs) {
  const dir = path.resolve(given);
  const files = (await readdir(dir))
    .filter((f) => /\.(jpe?g|png|webp|gif|tiff?|avif)$/i.test(f))
    .sort();
  negativeSets.push([
    path.basename(dir),
    await Promise.all(files.map((f) => readFile(path.join(dir, f)))),
  ]);
}
for (const [name, buffers] of negativeSets) {
  let accepted = 0;
  for (const b of buffers) if ((await model.predict(b)).verdict !== 'not_a_footprint') accepted++;
  notFootprint[name] = {
    n: buffers.length,
    falseAccepts: accepted,
    rate: buffers.length ? accepted / buffers.length : 0,
  };
}
model.dispose();
if (!flags.json) {
  console.log(
    `model ${model.manifest.version} (${model.manifest.backbone.id}), ${report.n} photos, mean confidence ${pct(report.meanConfidence)}`,
  );
  printDomainTable(report);
  console.log('per-species recall:');
  for (const [label, recall] of Object.entries(report.perSpeciesRecall))
    console.log(`  ${label.padEnd(13)} ${pct(recall)}`);
  console.log('confusion matrix (rows = truth, columns = predicted):');
  printConfusion(labels, report.confusion);
  console.log(`verdicts on footprints: ${JSON.stringify(report.verdicts)}`);
  for (const [name, r] of Object.entries(notFootprint))
    console.log(
      `not_a_footprint gate, ${name}: ${r.falseAccepts}/${r.n} accepted as footprints (${pct(r.rate)})`,
    );
}
const { byDomain, ...overall } = report;
console.log(
  JSON.stringify({
    ...overall,
    ...jsonFigures(report),
    notFootprint,
    model: model.manifest.version,
    backbone: model.manifest.backbone.id,
    byDomain: Object.fromEntries(
      Object.entries(byDomain).map(([d, r]) => [d, { ...jsonFigures(r), verdicts: r.verdicts }]),
    ),
  }),
);
