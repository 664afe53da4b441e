/**
 * `npm run bench:pipeline`: end-to-end timings of the training pipeline on the dev dataset,
 * against running emulators (`npm start`, ideally fresh: cached embeddings make runs faster).
 *   1. ingest the dev images (real Storage uploads → trigger)      target ≤ 60 s
 *   2. full training run on them                                     target ≤ 120 s
 *   3. retrain after adding 10 more images                           target ≤ 30 s
 * The 10 extra images are the dev photos re-encoded (new bytes, hence new training images).
 */
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { getFirestore } from 'firebase-admin/firestore';
import sharp from 'sharp';
import {
  DEFAULT_SEED_DATASETS,
  emulatorAdminApp,
  readLabelledFolder,
  startTrainingAsAdmin,
  uploadAndIngest,
  waitForRun,
} from '../import-dataset.js';

const dir = process.argv[2] ?? (DEFAULT_SEED_DATASETS[0] as string);
const log = (line: string): void => console.log(line);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

async function timedRun(): Promise<{ ms: number; run: Record<string, unknown> }> {
  const started = Date.now();
  const runId = await startTrainingAsAdmin();
  const run = await waitForRun(getFirestore(emulatorAdminApp()), runId, () => {});
  if (run.status !== 'succeeded') throw new Error(`run ${runId} failed: ${String(run.error)}`);
  return { ms: Date.now() - started, run };
}

const { images } = await readLabelledFolder(dir);
log(`Banc d'essai du pipeline : ${images.length} images de ${dir}`);
const ingestion = await uploadAndIngest(images);
log(
  `1. ingestion ${images.length} images : ${seconds(ingestion.ms)} (${JSON.stringify(ingestion.statuses)}) — cible ≤ 60 s`,
);

const full = await timedRun();
log(
  `2. entraînement complet : ${seconds(full.ms)} (top-1 sur le banc d’essai figé ${((full.run.metrics as { top1: number }).top1 * 100).toFixed(1)} %, ${String(full.run.benchmarkSize)} photos) — cible ≤ 120 s`,
);

const extraDir = await mkdtemp(path.join(os.tmpdir(), 'wildlens-bench-'));
const extras = [];
for (const [i, image] of images
  .filter((_, i) => i % 28 === 0)
  .slice(0, 10)
  .entries()) {
  const folder = path.join(extraDir, image.speciesId);
  await mkdir(folder, { recursive: true });
  const file = path.join(folder, `extra-${i}.jpg`);
  await writeFile(file, await sharp(image.file).jpeg({ quality: 87 }).toBuffer());
  extras.push({ speciesId: image.speciesId, file, domain: image.domain });
}
const extraIngestion = await uploadAndIngest(extras);
const retrain = await timedRun();
log(
  `3. réentraînement après +10 images : ${seconds(retrain.ms)} (ingestion ${seconds(extraIngestion.ms)}, promotion : ${String((retrain.run.promotion as { rule?: string } | undefined)?.rule)}) — cible ≤ 30 s`,
);
process.exit(0);
