/**
 * `npm run import-dataset -- DIR`: feeds a labelled folder (one sub-folder per species, named
 * like "Raton_laveur" or "renard"; optional manifest.json with { images: [{ file, group }] })
 * through the real pipeline of the running emulators: uploads under incoming/ (Admin SDK),
 * waits for the ingestion trigger, starts a training run as an admin and waits for it.
 * `npm start` calls it on first run (no active model). Needs the emulators (`npm start`).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
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
import { mapLimit, speciesIdFromLabel } from '@wildlens/shared';
import { PROJECT_ID, REPO_ROOT, emulatorPorts } from './emulators/stack.js';
import { functionsOrigin } from './emulators/wait.js';
import { uploadIdFor } from '../functions/src/handlers/ingestion.js';

export const DEFAULT_SEED_DATASET = path.resolve(
  REPO_ROOT,
  '..',
  'shared',
  'datasets',
  'footprints-dev',
);
const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp)$/i;

export interface LocalImage {
  speciesId: string;
  file: string;
  group?: string;
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

/** Species sub-folders mapped to catalogue ids; unknown folders are reported and skipped. */
export async function readLabelledFolder(
  dir: string,
): Promise<{ images: LocalImage[]; skipped: string[] }> {
  const groups = new Map<string, string>();
  const manifestPath = path.join(dir, 'manifest.json');
  if (existsSync(manifestPath)) {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      images?: { file: string; group?: string }[];
    };
    for (const i of manifest.images ?? []) if (i.group) groups.set(path.normalize(i.file), i.group);
  }
  const images: LocalImage[] = [];
  const skipped: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    if (!entry.isDirectory()) continue;
    const speciesId = speciesIdFromLabel(entry.name);
    if (!speciesId) {
      skipped.push(entry.name);
      continue;
    }
    for (const name of (await readdir(path.join(dir, entry.name))).sort()) {
      if (!IMAGE_EXTENSIONS.test(name)) continue;
      const rel = path.join(entry.name, name);
      images.push({ speciesId, file: path.join(dir, rel), group: groups.get(path.normalize(rel)) });
    }
  }
  return { images, skipped };
}

/**
 * Uploads under incoming/{species}/{batch}/ and waits for every ingestion record.
 * At most `window` uploads are in flight (sent but not yet ingested): the client paces itself
 * on the trigger instead of flooding it. This matters most under the Functions emulator, which
 * starts one more worker process for every event that finds no idle one; on this 2-core
 * machine an unpaced burst of 285 photos grew 29 workers and ran slower than a paced one.
 */
export async function uploadAndIngest(
  images: LocalImage[],
  options: {
    batchId?: string;
    log?: (line: string) => void;
    timeoutMs?: number;
    window?: number;
  } = {},
): Promise<{ batchId: string; statuses: Record<string, number>; ms: number }> {
  const app = emulatorAdminApp();
  const bucket = getStorage(app).bucket();
  const db = getFirestore(app);
  const batchId = options.batchId ?? `import-${randomUUID().slice(0, 8)}`;
  const log = options.log ?? (() => {});
  const timeoutMs = options.timeoutMs ?? 10 * 60_000;
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
  const ingested = (uploadId: string): Promise<string> => {
    const known = seen.get(uploadId);
    if (known) return Promise.resolve(known);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`ingestion sans résultat après ${timeoutMs / 1000} s : ${uploadId}`)),
        timeoutMs,
      );
      waiting.set(uploadId, (status) => {
        clearTimeout(timer);
        resolve(status);
      });
    });
  };
  let done = 0;
  try {
    await mapLimit(images, options.window ?? 6, async (image) => {
      const objectName = `incoming/${image.speciesId}/${batchId}/${path.basename(image.file)}`;
      const uploadId = uploadIdFor(objectName);
      await bucket.file(objectName).save(await readFile(image.file), {
        resumable: false,
        metadata: {
          contentType: image.file.toLowerCase().endsWith('.png')
            ? 'image/png'
            : image.file.toLowerCase().endsWith('.webp')
              ? 'image/webp'
              : 'image/jpeg',
          metadata: {
            uploaderUid: 'import-dataset',
            batchId,
            ...(image.group ? { sourceGroup: image.group } : {}),
          },
        },
      });
      const status = await ingested(uploadId);
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (++done % 50 === 0) log(`${done}/${images.length} photos ingérées…`);
    });
  } finally {
    unsubscribe();
  }
  return { batchId, statuses, ms: Date.now() - started };
}

/** Signs in a (created on demand) emulator admin user and calls startTrainingRun. */
export async function startTrainingAsAdmin(): Promise<string> {
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
  )({});
  return data.runId;
}

export async function waitForRun(
  db: Firestore,
  runId: string,
  log: (line: string) => void = () => {},
  timeoutMs = 15 * 60_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const snap = await db.doc(`trainingRuns/${runId}`).get();
    const run = snap.data() ?? {};
    const progress = run.progress as { done?: number; total?: number } | undefined;
    const line = `  ${String(run.phaseLabel ?? run.phase ?? '…')}${
      run.phase === 'embedding' && progress?.total ? ` ${progress.done}/${progress.total}` : ''
    }`;
    if (line !== last) log(line);
    last = line;
    if (run.status === 'succeeded' || run.status === 'failed') return run;
    if (Date.now() > deadline) throw new Error(`entraînement ${runId} non terminé à temps`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** The whole first-run import; returns the model version or throws with a French message. */
export async function importDataset(dir: string, log: (line: string) => void = console.log) {
  const { images, skipped } = await readLabelledFolder(dir);
  if (skipped.length) log(`Dossiers ignorés (espèce inconnue) : ${skipped.join(', ')}`);
  if (!images.length)
    throw new Error(`Aucune image dans ${dir} (sous-dossiers par espèce attendus).`);
  log(`Import de ${images.length} photos depuis ${dir}…`);
  const ingestion = await uploadAndIngest(images, { log });
  log(
    `Ingestion terminée en ${(ingestion.ms / 1000).toFixed(1)} s : ${Object.entries(
      ingestion.statuses,
    )
      .map(([s, n]) => `${n} ${s}`)
      .join(', ')}`,
  );
  log('Lancement d’un entraînement…');
  const started = Date.now();
  const runId = await startTrainingAsAdmin();
  const run = await waitForRun(getFirestore(emulatorAdminApp()), runId, log);
  if (run.status !== 'succeeded')
    throw new Error(`Entraînement ${runId} en échec : ${String(run.error)}`);
  log(
    `Modèle ${String(run.modelVersion)} entraîné en ${((Date.now() - started) / 1000).toFixed(1)} s` +
      `${run.promoted ? ' et activé' : ' (non activé : moins bon que le modèle actif)'}.`,
  );
  return { runId, modelVersion: run.modelVersion as string, ingestion };
}

if (
  process.argv[1] &&
  path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)
) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('Usage : npm run import-dataset -- DOSSIER (sous-dossiers par espèce)');
    process.exit(2);
  }
  importDataset(path.resolve(dir)).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
