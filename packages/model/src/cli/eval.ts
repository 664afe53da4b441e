import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { generateSyntheticNegatives } from '../synthetic-negatives.js';
import { readDataset } from '../dataset.js';
import { evaluatePredictions } from '../evaluation.js';
import { loadFootprintModelFromDir } from '../model-format.js';
import { parseCli, pct, printConfusion, requireString } from './args.js';

const USAGE = `Usage: node dist/cli/eval.js --model MODEL_DIR --dataset DIR [--json] [--all] [--negatives DIR]
  Uses only the model's recorded held-out images of DIR unless --all.
  --negatives DIR: images that are not footprints (any files); reports how many pass the
  not_a_footprint gate (false accepts), plus the same for generated synthetic negatives.`;

const flags = parseCli(USAGE, {
  model: { type: 'string' },
  dataset: { type: 'string' },
  json: { type: 'boolean' },
  all: { type: 'boolean' },
  negatives: { type: 'string' },
});
const modelDir = path.resolve(requireString(flags, 'model', USAGE));
const dataset = await readDataset(path.resolve(requireString(flags, 'dataset', USAGE)));
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
}
const unknown = [...new Set(images.map((i) => i.label))].filter((l) => !labels.includes(l));
if (unknown.length) console.warn(`labels unknown to the model are ignored: ${unknown.join(', ')}`);
images = images.filter((i) => labels.includes(i.label));
const probabilities: Float32Array[] = [];
const truth: number[] = [];
const verdicts: Record<string, number> = { identified: 0, uncertain: 0, not_a_footprint: 0 };
for (const image of images) {
  const prediction = await model.predict(await image.read());
  probabilities.push(Float32Array.from(labels.map((l) => prediction.probabilities[l] ?? 0)));
  truth.push(labels.indexOf(image.label));
  verdicts[prediction.verdict] = (verdicts[prediction.verdict] ?? 0) + 1;
}
const report = evaluatePredictions(probabilities, truth, labels);
const notFootprint: Record<string, { n: number; falseAccepts: number; rate: number }> = {};
const negativeSets: [string, Buffer[]][] = [
  ['synthetic', (await generateSyntheticNegatives(60, 11)).map((n) => n.image)],
];
if (typeof flags.negatives === 'string') {
  const dir = path.resolve(flags.negatives);
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
const footprintsRejected = verdicts.not_a_footprint ?? 0;
model.dispose();
if (!flags.json) {
  console.log(
    `images ${report.n}: top-1 ${pct(report.top1)}, top-3 ${pct(report.top3)}, macro-F1 ${pct(report.macroF1)}, mean confidence ${pct(report.meanConfidence)}, ECE ${report.ece.toFixed(3)}`,
  );
  console.log('per-species recall:');
  for (const [label, recall] of Object.entries(report.perSpeciesRecall))
    console.log(`  ${label.padEnd(13)} ${pct(recall)}`);
  console.log('confusion matrix (rows = truth, columns = predicted):');
  printConfusion(labels, report.confusion);
  console.log(
    `verdicts on footprints: ${JSON.stringify(verdicts)} (false rejects ${pct(footprintsRejected / Math.max(1, report.n))})`,
  );
  for (const [name, r] of Object.entries(notFootprint))
    console.log(
      `not_a_footprint gate, ${name}: ${r.falseAccepts}/${r.n} accepted as footprints (${pct(r.rate)})`,
    );
}
console.log(
  JSON.stringify({
    ...report,
    verdicts,
    notFootprint,
    model: model.manifest.version,
    backbone: model.manifest.backbone.id,
  }),
);
