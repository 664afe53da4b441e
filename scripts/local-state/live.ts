/**
 * The running stack's side of the saved state: export through the Emulator Hub, what the
 * emulators hold (summary), training runs and trainer processes that a stop interrupts.
 */
import { readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { App } from 'firebase-admin/app';
import { getAuth } from 'firebase-admin/auth';
import { getFirestore, type Firestore } from 'firebase-admin/firestore';
import { getStorage } from 'firebase-admin/storage';
import { COLLECTIONS } from '@wildlens/shared';
import { isAlive } from '../emulators/port-owner.js';
import { REPO_ROOT } from '../emulators/stack.js';
import type { StateSummary } from './state.js';

/**
 * Asks the Emulator Hub to export Auth, Firestore and Storage into `dir` (what
 * `firebase emulators:export` does, without starting a second CLI).
 */
export async function exportThroughHub(hubPort: number, dir: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${hubPort}/_admin/export`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ path: dir, initiatedBy: 'wildlens-start' }),
    signal: AbortSignal.timeout(10 * 60_000),
  });
  if (!res.ok)
    throw new Error(`export refusé par l’Emulator Hub (${res.status}) : ${await res.text()}`);
}

export async function readSummary(app: App): Promise<StateSummary> {
  const db = getFirestore(app);
  const [pointer, trainingImages, observations, users, files] = await Promise.all([
    db.doc(`${COLLECTIONS.config}/activeModel`).get(),
    db.collection(COLLECTIONS.trainingImages).count().get(),
    db.collectionGroup('observations').count().get(),
    countUsers(app),
    getStorage(app).bucket().getFiles({ autoPaginate: true }),
  ]);
  return {
    activeModel: pointer.exists ? ((pointer.get('version') as string | undefined) ?? null) : null,
    trainingImages: trainingImages.data().count,
    observations: observations.data().count,
    users,
    storageObjects: files[0].length,
  };
}

async function countUsers(app: App): Promise<number> {
  let count = 0;
  let pageToken: string | undefined;
  do {
    const page = await getAuth(app).listUsers(1000, pageToken);
    count += page.users.length;
    pageToken = page.pageToken;
  } while (pageToken);
  return count;
}

/** "1320 images d’entraînement, 4 utilisateurs, 12 observations, modèle …". */
export function describeSummary(summary: StateSummary): string {
  return (
    `${summary.trainingImages} images d’entraînement, ${summary.users} utilisateurs, ` +
    `${summary.observations} observations, ${summary.storageObjects} fichiers, ` +
    `modèle actif : ${summary.activeModel ?? 'aucun'}`
  );
}

/** Runs still queued or running: the trainer of this stack is gone, they will never finish. */
export async function activeRunIds(db: Firestore): Promise<string[]> {
  const snap = await db
    .collection(COLLECTIONS.trainingRuns)
    .where('status', 'in', ['queued', 'running'])
    .get();
  return snap.docs.map((d) => d.id);
}

export const INTERRUPTED_RUN_FR =
  'Interrompu : la pile locale a été arrêtée pendant l’entraînement. Relancez-le.';

/** Marks these runs failed with the reason (the trainer's own markRunFailed transaction). */
export async function failInterruptedRuns(db: Firestore, runIds: string[]): Promise<void> {
  if (!runIds.length) return;
  // Loaded only when needed: the trainer module pulls in TensorFlow.js.
  const { TrainerError, markRunFailed } = await import('../../trainer/src/run.js');
  const { trainerRetry } = await import('../../trainer/src/resilience.js');
  const retry = trainerRetry(() => {});
  for (const runId of runIds)
    await markRunFailed(db, runId, new TrainerError(INTERRUPTED_RUN_FR), new Date(), retry);
}

/**
 * Local trainer processes of this stack: `node trainer/dist/main.js` started (detached, so
 * outside the suite's process group) by the Functions emulator of this checkout, talking to
 * this stack's Firestore.
 */
export function trainerProcesses(firestoreHost: string): number[] {
  const main = path.join(REPO_ROOT, 'trainer', 'dist', 'main.js');
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!argv.some((a) => path.resolve(REPO_ROOT, a) === main)) continue;
      if (readlinkSync(`/proc/${entry}/cwd`) !== path.resolve(REPO_ROOT)) continue;
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environ.includes(`FIRESTORE_EMULATOR_HOST=${firestoreHost}`)) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/** Is `pid` a firebase-tools `emulators:start` (pids get reused: check what it runs)? */
export function isEmulatorSuite(pid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.some((a) => /firebase/.test(a)) && argv.includes('emulators:start');
  } catch {
    return false;
  }
}

/** Waits until `pid` is gone (true) or the timeout passes (false). */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

/**
 * The Emulator Hub writes each export into a `firebase-export-<time><random>` folder of its
 * working directory (the repository) and moves it into place at the end; a failed export leaves
 * it behind. Removes those older than an hour (a running export takes seconds).
 */
export function removeStaleHubExportDirs(dir: string, now = Date.now()): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    if (!/^firebase-export-\d+\w{6}$/.test(name)) continue;
    const full = path.join(dir, name);
    const stat = statSync(full);
    if (!stat.isDirectory() || now - stat.mtimeMs < 60 * 60_000) continue;
    rmSync(full, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
