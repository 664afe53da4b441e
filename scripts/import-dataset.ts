/**
 * `npm run import-dataset -- DIR [DIR…]` (or `--dataset DIR` repeated): feeds labelled folders
 * (read like the model's CLIs read them: manifest.json with label/file/group, else one
 * sub-folder per species, named like "Raton_laveur" or "renard") through the real pipeline of
 * the running emulators: uploads under incoming/ (Admin SDK) carrying the dataset's domain and
 * the photo's group, waits for the ingestion trigger, then starts one training run as an admin
 * and waits for it. Photos already in the training set (same bytes) are not sent again, so an
 * interrupted import resumes where it stopped. `npm start` calls it on first run (no active
 * model). Needs the emulators (`npm start`).
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { getApps, initializeApp, type App } from 'firebase-admin/app';
import { getAuth } from 'firebase-admin/auth';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';
import { getStorage } from 'firebase-admin/storage';
import { initializeApp as initClient } from 'firebase/app';
import {
  connectAuthEmulator,
  getAuth as getClientAuth,
  signInWithEmailAndPassword,
} from 'firebase/auth';
import { connectFunctionsEmulator, getFunctions, httpsCallable } from 'firebase/functions';
import { readDataset } from '@wildlens/model';
import {
  BATCH_JOB_RETRY,
  COLLECTIONS,
  mapLimit,
  retryTransient,
  speciesIdFromLabel,
} from '@wildlens/shared';
import { PROJECT_ID, REPO_ROOT, emulatorPorts } from './emulators/stack.js';
import { functionsOrigin } from './emulators/wait.js';
import { formatDuration, throttledProgress } from './progress.js';
import { uploadIdFor } from '../functions/src/handlers/ingestion.js';

const SHARED_DATASETS = path.resolve(REPO_ROOT, '..', 'shared', 'datasets');
/** The shared development datasets `npm start` imports on first run, when present. */
export const DEFAULT_SEED_DATASETS = [
  path.join(SHARED_DATASETS, 'footprints-dev'),
  path.join(SHARED_DATASETS, 'footprints-field-dev'),
];

/**
 * Datasets of `npm start`'s first-run import: WILDLENS_SEED_DATASET (comma-separated folders,
 * "none" for none), else the shared datasets that are present.
 */
export function seedDatasetsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const configured = env.WILDLENS_SEED_DATASET?.trim();
  if (configured === 'none') return [];
  if (configured)
    return configured
      .split(',')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => path.resolve(d));
  return DEFAULT_SEED_DATASETS.filter((d) => existsSync(d));
}

export interface LocalImage {
  speciesId: string;
  file: string;
  /** Kind of photo (crop, field, or the dataset's name): sent as the upload's `domain`. */
  domain: string;
  group?: string;
}

export interface LabelledFolder {
  dir: string;
  domain: string;
  images: LocalImage[];
  /** Labels that name no species of the catalogue (their photos are not imported). */
  skipped: string[];
}

/** Points the Admin SDK of this process at the emulators (ports shifted by WILDLENS_PORT_OFFSET). */
export function emulatorAdminApp(): App {
  const ports = emulatorPorts();
  process.env.FIRESTORE_EMULATOR_HOST ??= `127.0.0.1:${ports.firestore}`;
  process.env.FIREBASE_AUTH_EMULATOR_HOST ??= `127.0.0.1:${ports.auth}`;
  process.env.FIREBASE_STORAGE_EMULATOR_HOST ??= `127.0.0.1:${ports.storage}`;
  process.env.STORAGE_EMULATOR_HOST ??= `http://127.0.0.1:${ports.storage}`;
  return (
    getApps().find((a) => a.name === 'import') ??
    initializeApp({ projectId: PROJECT_ID, storageBucket: `${PROJECT_ID}.appspot.com` }, 'import')
  );
}

/**
 * One dataset folder, read by @wildlens/model's readDataset (the reader of train/cv/eval), with
 * its domain. Groups are prefixed with the domain so that two datasets never share one.
 */
export async function readLabelledFolder(dir: string): Promise<LabelledFolder> {
  const dataset = await readDataset(dir);
  const images: LocalImage[] = [];
  const skipped = new Set<string>();
  for (const image of dataset.images) {
    const speciesId = speciesIdFromLabel(image.label);
    if (!speciesId) {
      skipped.add(image.label);
      continue;
    }
    images.push({
      speciesId,
      file: path.join(dataset.root, ...image.id.split('/')),
      domain: image.domain,
      ...(image.group ? { group: `${image.domain}/${image.group}` } : {}),
    });
  }
  return { dir, domain: dataset.domain, images, skipped: [...skipped].sort() };
}

/** Several folders as one import; two folders of one domain are refused (ambiguous metrics). */
export async function readLabelledFolders(dirs: string[]): Promise<LabelledFolder[]> {
  const folders = await Promise.all(dirs.map((d) => readLabelledFolder(d)));
  const seen = new Map<string, string>();
  for (const f of folders) {
    const other = seen.get(f.domain);
    if (other)
      throw new Error(
        `${other} et ${f.dir} ont le même domaine « ${f.domain} » : donnez à l’un un ` +
          '"domain" dans son manifest.json.',
      );
    seen.set(f.domain, f.dir);
  }
  return folders;
}

/** The images whose exact bytes are not a training image yet (trainingImages/{sha256}). */
export async function notYetInTrainingSet(
  db: Firestore,
  images: LocalImage[],
): Promise<LocalImage[]> {
  const hashes = await mapLimit(images, 8, async (image) =>
    createHash('sha256')
      .update(await readFile(image.file))
      .digest('hex'),
  );
  const missing: LocalImage[] = [];
  const collection = db.collection(COLLECTIONS.trainingImages);
  for (let start = 0; start < images.length; start += 200) {
    const refs = hashes.slice(start, start + 200).map((h) => collection.doc(h));
    const snaps = await db.getAll(...refs, { fieldMask: ['speciesId'] });
    snaps.forEach((snap, i) => {
      if (!snap.exists) missing.push(images[start + i] as LocalImage);
    });
  }
  return missing;
}

function contentType(file: string): string {
  const lower = file.toLowerCase();
  if (lower.endsWith('.png')) return 'image/png';
  if (lower.endsWith('.webp')) return 'image/webp';
  return 'image/jpeg';
}

/**
 * Uploads under incoming/{species}/{batch}/{domain}-{file} and waits for every ingestion
 * record. At most `window` uploads are in flight (sent but not yet ingested): the client paces
 * itself on the trigger instead of flooding it. This matters most under the Functions emulator,
 * which starts one more worker process for every event that finds no idle one; on this 2-core
 * machine an unpaced burst of 285 photos grew 29 workers and ran slower than a paced one.
 * `onProgress(done)` is called after each ingested photo.
 */
export async function uploadAndIngest(
  images: LocalImage[],
  options: {
    batchId?: string;
    onProgress?: (done: number) => void;
    log?: (line: string) => void;
    timeoutMs?: number;
    /** An upload without an ingestion record after this long, still under incoming/, is sent again. */
    resendAfterMs?: number;
    window?: number;
    /** Stops sending new uploads (those in flight are still waited for). */
    signal?: AbortSignal;
  } = {},
): Promise<{
  batchId: string;
  statuses: Record<string, number>;
  ms: number;
  retried: number;
  resent: number;
}> {
  const app = emulatorAdminApp();
  const bucket = getStorage(app).bucket();
  const db = getFirestore(app);
  const batchId = options.batchId ?? `import-${randomUUID().slice(0, 8)}`;
  const log = options.log ?? (() => {});
  const timeoutMs = options.timeoutMs ?? 10 * 60_000;
  const resendAfterMs = options.resendAfterMs ?? 2 * 60_000;
  const started = Date.now();
  const statuses: Record<string, number> = {};
  const waiting = new Map<string, (status: string) => void>();
  const seen = new Map<string, string>();
  const unsubscribe = db
    .collection('uploads')
    .where('batchId', '==', batchId)
    .onSnapshot(
      (snap) => {
        for (const change of snap.docChanges()) {
          const status = change.doc.get('status') as string;
          if (seen.has(change.doc.id)) continue;
          seen.set(change.doc.id, status);
          waiting.get(change.doc.id)?.(status);
        }
      },
      (err) => log(`suivi de l’ingestion interrompu : ${err.message}`),
    );
  let resent = 0;
  /**
   * The upload's ingestion status. The Functions emulator sometimes drops a finalize event
   * ("not triggered due to emulation error"): an upload still waiting under incoming/ after
   * `resendAfterMs` is sent again, which fires a new event (ingestion records an upload once).
   */
  const ingested = (uploadId: string, objectName: string, send: () => Promise<void>) =>
    new Promise<string>((resolve, reject) => {
      const known = seen.get(uploadId);
      if (known) return resolve(known);
      const deadline = Date.now() + timeoutMs;
      let timer: NodeJS.Timeout;
      let settled = false;
      const check = async (): Promise<void> => {
        if (settled) return;
        if (Date.now() >= deadline) {
          waiting.delete(uploadId);
          return reject(
            new Error(`ingestion sans résultat après ${timeoutMs / 1000} s : ${objectName}`),
          );
        }
        try {
          if (!seen.has(uploadId) && (await bucket.file(objectName).exists())[0]) {
            resent++;
            await send();
          }
        } catch {
          // The next check tries again.
        }
        if (!settled) timer = setTimeout(() => void check(), resendAfterMs);
      };
      timer = setTimeout(() => void check(), resendAfterMs);
      waiting.set(uploadId, (status) => {
        settled = true;
        clearTimeout(timer);
        resolve(status);
      });
    });
  let done = 0;
  let retried = 0;
  // Once an upload failed for good, the others stop sending (the import is redone as a whole).
  let failure: unknown;
  try {
    await mapLimit(images, options.window ?? 6, async (image) => {
      options.signal?.throwIfAborted();
      if (failure) throw failure;
      const objectName = `incoming/${image.speciesId}/${batchId}/${image.domain}-${path.basename(image.file)}`;
      const uploadId = uploadIdFor(objectName);
      const bytes = await readFile(image.file);
      // Sent again after a dropped connection or a lost event: same object name, and ingestion
      // ignores (and deletes) an upload it already recorded, so an upload counts once.
      const send = () =>
        retryTransient(
          () =>
            bucket.file(objectName).save(bytes, {
              resumable: false,
              metadata: {
                contentType: contentType(image.file),
                metadata: {
                  uploaderUid: 'import-dataset',
                  source: 'import',
                  batchId,
                  domain: image.domain,
                  ...(image.group ? { sourceGroup: image.group } : {}),
                },
              },
            }),
          { ...BATCH_JOB_RETRY, onRetry: () => retried++ },
        );
      await send().catch((err: unknown) => {
        failure ??= err;
        throw err;
      });
      const status = await ingested(uploadId, objectName, send);
      statuses[status] = (statuses[status] ?? 0) + 1;
      options.onProgress?.(++done);
    });
  } finally {
    unsubscribe();
  }
  return { batchId, statuses, ms: Date.now() - started, retried, resent };
}

/**
 * Signs in a (created on demand) emulator admin user and calls startTrainingRun; `tasks`:
 * trainer processes sharing the run (the emulators' stand-in for a sharded Cloud Run job).
 */
export async function startTrainingAsAdmin(tasks?: number): Promise<string> {
  const app = emulatorAdminApp();
  const email = 'import-dataset@wildlens.local';
  const password = 'import-dataset-emulateur';
  const auth = getAuth(app);
  const user = await auth.getUserByEmail(email).catch(() => auth.createUser({ email, password }));
  await auth.setCustomUserClaims(user.uid, { admin: true });
  const client = initClient(
    { projectId: PROJECT_ID, apiKey: 'fake-api-key' },
    `import-${randomUUID()}`,
  );
  const clientAuth = getClientAuth(client);
  connectAuthEmulator(clientAuth, `http://${process.env.FIREBASE_AUTH_EMULATOR_HOST}`, {
    disableWarnings: true,
  });
  await signInWithEmailAndPassword(clientAuth, email, password);
  const functions = getFunctions(client, 'europe-west1');
  const origin = new URL(functionsOrigin());
  connectFunctionsEmulator(functions, origin.hostname, Number(origin.port));
  const { data } = await httpsCallable<unknown, { runId: string }>(
    functions,
    'startTrainingRun',
  )(tasks && tasks > 1 ? { simulateTasks: tasks } : {});
  return data.runId;
}

/**
 * Turns successive snapshots of a training run's document into console lines: each new phase,
 * and the count, rate and time left of the long steps: fitting the projection bases, the
 * embedding of the training photos, the scoring of the benchmark photos.
 */
export function trainingRunReporter(
  log: (line: string) => void,
  now: () => number = Date.now,
): (run: Record<string, unknown>) => void {
  let lastPhase = '';
  const reporters = new Map<string, (done: number) => void>();
  const lastDone = new Map<string, number>();
  const step = (key: string, total: number, label: string, done: number): void => {
    // Other fields change too (heartbeats, other tasks): only a new count is news.
    if (lastDone.get(key) === done) return;
    lastDone.set(key, done);
    let report = reporters.get(key);
    if (!report) {
      report = throttledProgress(total, (line) => log(`${label} : ${line}`), {
        unit: 'photos',
        now,
      });
      reporters.set(key, report);
    }
    report(done);
  };
  return (run) => {
    const phase = String(run.phase ?? '');
    const label = String(run.phaseLabel ?? run.phase ?? '…');
    const progress = run.progress as { done?: number; total?: number } | undefined;
    const fitting = run.fitting as { done?: number; total?: number } | undefined;
    const trainingSize = Number(run.trainingSize ?? 0);
    const benchmarkSize = Number(run.benchmarkSize ?? 0);
    if (phase !== lastPhase) {
      lastPhase = phase;
      if (run.status !== 'succeeded' && run.status !== 'failed') log(label);
    }
    // progress.done counts the training photos embedded, then the benchmark photos scored.
    const done = progress?.done ?? 0;
    if (phase === 'embedding') {
      // No photo embedded yet: the bases are being fitted (when the run fits them).
      if (!done && fitting?.total)
        step(
          'fitting',
          fitting.total,
          `${label} : ajustement des bases de projection`,
          fitting.done ?? 0,
        );
      else if (done && trainingSize)
        step('embedding', trainingSize, label, Math.min(done, trainingSize));
    } else if (phase === 'evaluating' && benchmarkSize)
      step(
        'evaluating',
        benchmarkSize,
        `${label} sur le banc d’essai`,
        Math.max(0, done - trainingSize),
      );
  };
}

export async function waitForRun(
  db: Firestore,
  runId: string,
  log: (line: string) => void = () => {},
  timeoutMs = 30 * 60_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  const report = trainingRunReporter(log);
  for (;;) {
    const snap = await db.doc(`trainingRuns/${runId}`).get();
    const run = snap.data() ?? {};
    report(run);
    if (run.status === 'succeeded' || run.status === 'failed') return run;
    if (Date.now() > deadline) throw new Error(`entraînement ${runId} non terminé à temps`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** How long a finished run took, from its document (createdAt → finishedAt). */
export function runDurationMs(run: Record<string, unknown>): number | undefined {
  const millis = (t: unknown) =>
    t && typeof (t as { toMillis?: unknown }).toMillis === 'function'
      ? (t as { toMillis(): number }).toMillis()
      : undefined;
  const start = millis(run.createdAt);
  const end = millis(run.finishedAt);
  return start !== undefined && end !== undefined ? end - start : undefined;
}

/** One line saying how a finished run ended (model, whether it is active, or the error). */
export function describeFinishedRun(run: Record<string, unknown>): string {
  const ms = runDurationMs(run);
  const took = ms === undefined ? '' : ` en ${formatDuration(ms)}`;
  if (run.status !== 'succeeded') return `Entraînement en échec${took} : ${String(run.error)}`;
  const metrics = run.metrics as { top1?: number } | undefined;
  const top1 =
    typeof metrics?.top1 === 'number' ? `, top-1 ${(metrics.top1 * 100).toFixed(1)} %` : '';
  const why = String(run.notPromotedReason ?? 'moins bon que le modèle actif').replace(/\.$/, '');
  return `Modèle ${String(run.modelVersion)} entraîné${took}${top1}${run.promoted ? ' et activé' : ` (non activé : ${why})`}.`;
}

export interface ImportOutcome {
  /** Photos of the folders, and how many were already in the training set. */
  total: number;
  alreadyImported: number;
  statuses: Record<string, number>;
  ingestionMs: number;
}

/**
 * Imports the folders: only the photos not in the training set yet, so an interrupted import
 * resumes where it stopped. Throws with a French message.
 */
export async function importFolders(
  dirs: string[],
  log: (line: string) => void = console.log,
  signal?: AbortSignal,
): Promise<ImportOutcome> {
  const folders = await readLabelledFolders(dirs);
  for (const f of folders)
    log(
      `${f.dir} : ${f.images.length} photos (domaine « ${f.domain} »)` +
        (f.skipped.length ? `, libellés ignorés (espèce inconnue) : ${f.skipped.join(', ')}` : ''),
    );
  const images = folders.flatMap((f) => f.images);
  if (!images.length)
    throw new Error(
      `Aucune image dans ${dirs.join(', ')} (manifest.json ou sous-dossiers par espèce attendus).`,
    );
  const db = getFirestore(emulatorAdminApp());
  const todo = await notYetInTrainingSet(db, images);
  const alreadyImported = images.length - todo.length;
  if (alreadyImported)
    log(
      `${alreadyImported} photos déjà dans le jeu d’entraînement (mêmes octets) : non renvoyées.`,
    );
  let statuses: Record<string, number> = {};
  let ingestionMs = 0;
  if (todo.length) {
    log(`Import de ${todo.length} photos (envoi → déclencheur d’ingestion)…`);
    const ingestion = await uploadAndIngest(todo, {
      log,
      signal,
      onProgress: throttledProgress(todo.length, (line) => log(`ingestion : ${line}`)),
    });
    statuses = ingestion.statuses;
    ingestionMs = ingestion.ms;
    log(
      `Ingestion terminée en ${formatDuration(ingestion.ms)} : ${Object.entries(statuses)
        .map(([s, n]) => `${n} ${s}`)
        .join(
          ', ',
        )}${ingestion.retried ? ` ; ${ingestion.retried} envois repris après une coupure de connexion` : ''}${ingestion.resent ? ` ; ${ingestion.resent} photos renvoyées (événement d’ingestion perdu par l’émulateur)` : ''}`,
    );
  }
  signal?.throwIfAborted();
  return { total: images.length, alreadyImported, statuses, ingestionMs };
}

/** Imports the folders, then starts one training run and returns its id without waiting. */
export async function importDatasets(
  dirs: string[],
  log: (line: string) => void = console.log,
  signal?: AbortSignal,
): Promise<ImportOutcome & { runId: string }> {
  const outcome = await importFolders(dirs, log, signal);
  log('Lancement d’un entraînement…');
  return { ...outcome, runId: await startTrainingAsAdmin() };
}

const USAGE =
  'Usage : npm run import-dataset -- DOSSIER [DOSSIER…]  (ou --dataset DOSSIER, répétable)\n' +
  '  Chaque dossier : manifest.json (label, file, group) ou un sous-dossier par espèce.';

if (
  process.argv[1] &&
  path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)
) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { dataset: { type: 'string', multiple: true }, help: { type: 'boolean' } },
  });
  const dirs = [...(values.dataset ?? []), ...positionals].map((d) => path.resolve(d));
  if (values.help || !dirs.length) {
    console.error(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  importDatasets(dirs)
    .then(async ({ runId }) => {
      const run = await waitForRun(getFirestore(emulatorAdminApp()), runId, console.log);
      console.log(describeFinishedRun(run));
      process.exit(run.status === 'succeeded' ? 0 : 1);
    })
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    });
}
