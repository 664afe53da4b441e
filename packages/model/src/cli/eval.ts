import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { generateSyntheticNegatives } from '../synthetic-negatives.js';
import { readDatasets } from '../dataset.js';
import type { DialoguePhoto } from '../dialogue-fitting.js';
import { DialogueTrajectories, jitteredFrame, simulateScenarios } from '../dialogue-evaluation.js';
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
  printDialogueTables,
  printDomainTable,
  requireString,
} from './args.js';

const USAGE = `Usage: node dist/cli/eval.js --model MODEL_DIR --dataset DIR [--dataset DIR…] [--json] [--all] [--negatives DIR…]
  [--simulate-hiker] [--seed N]
  Uses only the model's recorded held-out images of the datasets unless --all.
  --simulate-hiker: run the dialogue on each photo with the model's dialogue parameters, answered
  by simulated hikers (nominal and harsh noise, drawn with --seed, default 1): figures per domain
  after 0 to 3 answers, without and with the place, for the print framed in crops (a jittered
  frame, through predict's region) and for two photos of one trail (crops of one source photo).
  --negatives DIR (repeatable): images that are not footprints (any files); reports how many pass
  the not_a_footprint gate (false accepts), plus the same for generated synthetic negatives.
${DATASET_USAGE}`;

const flags = parseCli(USAGE, {
  ...DATASET_OPTION,
  model: { type: 'string' },
  json: { type: 'boolean' },
  all: { type: 'boolean' },
  negatives: { type: 'string', multiple: true },
  'simulate-hiker': { type: 'boolean' },
  seed: { type: 'string' },
});
const seed = Number(flags.seed ?? 1);
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
const simulateHiker = Boolean(flags['simulate-hiker']);
const dialoguePhotos: DialoguePhoto[] = [];
const framed: (DialoguePhoto | undefined)[] = [];
for (const image of images) {
  const bytes = await image.read();
  const prediction = await model.predict(bytes);
  const probabilities = Float32Array.from(labels.map((l) => prediction.probabilities[l] ?? 0));
  const truth = labels.indexOf(image.label);
  samples.push({ probabilities, truth, verdict: prediction.verdict, domain: image.domain });
  if (!simulateHiker) continue;
  const photo: DialoguePhoto = {
    probabilities,
    truth,
    domain: image.domain,
    ...(prediction.domain ? { predictedDomain: prediction.domain } : {}),
    notFootprint: prediction.verdict === 'not_a_footprint',
    group: `${image.label}/${image.group ?? image.id}`,
  };
  dialoguePhotos.push(photo);
  // Crops get the frame a hiker would draw; field photos have no frame to draw from.
  if (image.domain !== 'crop') {
    framed.push(undefined);
    continue;
  }
  const region = await model.predict(bytes, { region: jitteredFrame(image.id, seed) });
  framed.push({
    ...photo,
    probabilities: Float32Array.from(labels.map((l) => region.probabilities[l] ?? 0)),
    ...(region.domain ? { predictedDomain: region.domain } : {}),
  });
}
const report = evaluateByDomain(samples, labels);
let dialogue: ReturnType<DialogueTrajectories['figures']> | undefined;
if (simulateHiker) {
  if (!model.manifest.dialogue)
    console.warn(
      'this model has no dialogue parameters: never "identified", sets without coverage',
    );
  const trajectories = new DialogueTrajectories();
  simulateScenarios(
    {
      photos: dialoguePhotos,
      framed,
      keys: images.map((i) => i.id),
      labels,
      parameters: model.manifest.dialogue ?? null,
    },
    { seed },
    trajectories,
  );
  dialogue = trajectories.figures();
}
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
  if (dialogue) printDialogueTables({ figures: dialogue });
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
    ...(dialogue ? { dialogue } : {}),
    model: model.manifest.version,
    backbone: model.manifest.backbone.id,
    byDomain: Object.fromEntries(
      Object.entries(byDomain).map(([d, r]) => [d, { ...jsonFigures(r), verdicts: r.verdicts }]),
    ),
  }),
);
